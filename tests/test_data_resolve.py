"""Data resolved once, before any run (issue 22, item 2): ``dltour.data.resolve``."""

from __future__ import annotations

import pytest

from dltour.data import airline, corpora, images, imdb, mnist, tinyimagenet
from dltour.data.resolve import needs, resolve_for, resolve_studies
from dltour.data.source import DataUnavailable


def test_embedded_configs_resolve_offline_to_the_demo_pack():
    assert resolve_for(mnist.MnistData(source="embedded")) == {"mnist-demo": mnist.demo_path()}
    got = resolve_for(imdb.ImdbData(source="embedded"))
    assert set(got) == {"imdb-demo", "glove-demo"} and all(p.exists() for p in got.values())
    assert resolve_for(images.ImageData(source="embedded"))["cifar10-demo"].exists()
    assert resolve_for(airline.AirlineData())["airline-demo"].exists()
    assert resolve_for(corpora.CorpusData(corpus="tinyshakespeare", source="embedded"))


def test_download_needs_name_the_manifest_specs():
    assert [n.name for n in needs(mnist.MnistData())] == [s.name for s in mnist.SPECS.values()]
    assert [n.name for n in needs(imdb.ImdbData())] == ["imdb", "glove-6b"]
    assert [n.name for n in needs(tinyimagenet.ImageClassData())] == ["tiny-imagenet-200"]
    assert [n.name for n in needs(images.ImageData())] == ["cifar100"]


def test_each_dataset_is_resolved_once_and_a_missing_one_skips_only_its_studies(tmp_path):
    calls = []

    def fetcher(spec, path=None):
        calls.append(spec.name)
        if spec.name == "cifar100":
            raise DataUnavailable(f"{spec.filename} is not available (offline)")
        f = tmp_path / spec.filename
        f.write_bytes(b"x")
        return f

    items = [("mnist-autoencoder", mnist.MnistData()), ("mnist-generative", mnist.MnistData()),
             ("denoise-losses", images.ImageData()), ("colourise", images.ImageData()),
             ("airline-lstm", airline.AirlineData())]
    ok, skipped = resolve_studies(items, fetcher)
    assert sorted(calls) == sorted([s.name for s in mnist.SPECS.values()] + ["cifar100"])  # once each
    assert set(ok) == {"mnist-autoencoder", "mnist-generative", "airline-lstm"}
    assert set(skipped) == {"denoise-losses", "colourise"}
    for why in skipped.values():
        assert "\n" not in why and "cifar-100-python.tar.gz" in why
        assert "dltour data fetch cifar100 --from FILE" in why and "--set data.path=FILE" in why
        assert "https://www.cs.toronto.edu" in why


def test_missing_explicit_paths_and_plain_http_are_one_line(tmp_path):
    with pytest.raises(DataUnavailable, match=r"does not exist; pass an existing file with --set data.path=FILE") as e:
        resolve_for(mnist.MnistData(path=str(tmp_path / "nope")))
    assert "\n" not in str(e.value)
    with pytest.raises(DataUnavailable, match="--set data.glove_path=FILE"):
        resolve_for(imdb.ImdbData(source="embedded", glove_path=str(tmp_path / "g.zip")))
    ok, skipped = resolve_studies([("char-textgen", corpora.CorpusData(path="http://example.org/got.csv"))])
    assert not ok and "plain connection" in skipped["char-textgen"]
    ok, skipped = resolve_studies([("char-textgen", corpora.CorpusData())])  # no Kaggle file in the cache
    assert "kaggle.com" in skipped["char-textgen"] and "\n" not in skipped["char-textgen"]
