"""The image-folder source on a miniature archive made here, and the embedded demo subset."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from dltour.data.images import load_demo, load_image_folder
from dltour.data.source import DataUnavailable


def _png(color, size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_zip_with_splits(tmp_path):
    arc = tmp_path / "imgs.zip"
    with zipfile.ZipFile(arc, "w") as z:
        for split, n in (("train", 3), ("test", 1)):
            for cls, col in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
                for i in range(n):
                    z.writestr(f"root/{split}/{cls}/{i}.png", _png(col))
        z.writestr("root/README.txt", "not an image")
    d = load_image_folder(arc, use_cache=False)
    assert d["train"].classes == ["cat", "dog"] and d["train"].x.shape == (6, 8, 8, 3)
    assert d["train"].x.dtype == np.uint8 and list(np.bincount(d["train"].y)) == [3, 3]
    assert d["test"].x.shape == (2, 8, 8, 3)
    cat = d["train"].x[d["train"].y == 0]
    assert (cat[..., 0] == 255).all() and (cat[..., 2] == 0).all()
    r = load_image_folder(arc, size=4, limit_per_class=2, use_cache=False)
    assert r["train"].x.shape == (4, 4, 4, 3)


def test_folder_without_splits_and_cache(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        (tmp_path / "f" / cls / "1.png").write_bytes(_png((10, 20, 30)))
    first = load_image_folder(tmp_path / "f")
    again = load_image_folder(tmp_path / "f")  # from the decoded cache
    assert set(first) == {"train"} and np.array_equal(first["train"].x, again["train"].x)


def test_errors(tmp_path):
    with pytest.raises(DataUnavailable, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailable, match="no images"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "bad" / "c").mkdir(parents=True)
    (tmp_path / "bad" / "c" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataUnavailable, match="cannot decode"):
        load_image_folder(tmp_path / "bad", use_cache=False)


def test_demo_subset_shape():
    d = load_demo()
    assert d["train"].x.shape == (4000, 32, 32, 3) and d["test"].x.shape == (1000, 32, 32, 3)
    assert list(np.bincount(d["train"].y)) == [400] * 10 and len(d["train"].classes) == 10


def _load_in_worker(path):
    d = load_image_folder(path)
    return d["train"].x, d["train"].y


def test_parallel_workers_decode_once_and_agree(tmp_path, monkeypatch):
    """Runs started together in several processes: one decodes and writes the cache under a lock,
    the others wait and read it; all get the same arrays and no temporary is left behind."""
    import multiprocessing as mp

    from dltour.data import images

    for cls, col in (("a", (10, 20, 30)), ("b", (200, 0, 0))):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(20):
            (tmp_path / "f" / cls / f"{i}.png").write_bytes(_png(col))
    decodes = mp.get_context("fork").Value("i", 0)
    read = images._read_images

    def counting(*a, **k):
        with decodes.get_lock():
            decodes.value += 1
        return read(*a, **k)

    monkeypatch.setattr(images, "_read_images", counting)
    with mp.get_context("fork").Pool(4) as pool:
        outs = pool.map(_load_in_worker, [tmp_path / "f"] * 8)
    assert decodes.value == 1
    assert all(np.array_equal(x, outs[0][0]) and np.array_equal(y, outs[0][1]) for x, y in outs)
    cached = list((images.cache_dir() / "decoded").iterdir())
    assert not [p for p in cached if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- what the image-to-image studies load
def test_a_missing_path_is_named_not_an_archive_to_download(tmp_path):
    from dltour.data.images import ImageData, images_for

    for missing in (tmp_path / "my_folder", tmp_path / "c100.tar.gz"):
        with pytest.raises(DataUnavailable, match=f"data.path '{missing}' does not exist") as e:
            images_for(ImageData(path=str(missing)))
        assert "cifar-100-python.tar.gz" not in str(e.value) and "\n" not in str(e.value)


def test_image_data_fields_and_kinds(tmp_path):
    from pydantic import ValidationError

    from dltour.data.images import ImageData, data_kind, reference_data

    assert data_kind(ImageData(source="embedded")) == "embedded" and data_kind(ImageData()) == "cifar100"
    assert data_kind(ImageData(path=str(tmp_path))) == "folder"
    assert reference_data(ImageData())[0] and not reference_data(ImageData(source="embedded"))[0]
    ok, why = reference_data(ImageData(path=str(tmp_path / "gone")))
    assert not ok and "does not exist" in why
    assert ImageData(train_subset=20, test_subset=5).cuts() == ["20 training images (reference: all)",
                                                                "5 test images (reference: all)"]
    for bad in ({"source": "web"}, {"train_subset": 5}, {"image_size": 4}):
        with pytest.raises(ValidationError):
            ImageData(**bad)
    assert all(f.description for f in ImageData.model_fields.values())


def test_split_and_test_indices():
    from dltour.data.images import panel_indices, split_indices, test_indices

    tr, va = split_indices(100, None, 0.25)
    assert len(tr) == 75 and len(va) == 25 and sorted(set(tr) | set(va)) == list(range(100))
    assert test_indices(10, 3).tolist() == [0, 4, 9]
    assert panel_indices(100, 4).tolist() == [0, 33, 66, 99] and panel_indices(3).tolist() == [0, 1, 2]
