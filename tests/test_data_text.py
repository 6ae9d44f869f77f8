"""IMDB reading, tokeniser and vocabulary; GloVe reading from a zip made here; the corpora."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
import pytest

from dltour.data import corpora, glove, imdb
from dltour.data.source import DataUnavailable


def test_tokenize_lowercases_keeps_or_drops_br_and_splits_negation():
    text = "I didn't LIKE it!<br /><br />Bad, bad movie's end?"
    assert imdb.tokenize(text, keep_br=False) == [
        "i", "did", "n't", "like", "it", "!", "bad", "bad", "movie", "'s", "end", "?"]
    assert imdb.tokenize(text) == [  # the default keeps the line breaks, as the reference's Table 2 shows
        "i", "did", "n't", "like", "it", "!", "br", "br", "bad", "bad", "movie", "'s", "end", "?"]
    assert imdb.tokenize("a<BR>b<br/>c") == ["a", "br", "b", "br", "c"]
    assert imdb.tokenize("") == []


def test_vocab_orders_by_frequency_then_alphabet_and_caps():
    toks = [["b", "a", "c", "a"], ["b", "d", "a"]]
    v = imdb.Vocab.build(toks, max_vocab=10, min_freq=1)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]
    v2 = imdb.Vocab.build(toks, max_vocab=1, min_freq=2)
    assert v2.itos == ["<pad>", "<unk>", "a"]
    assert v2.encode(["a", "b", "zzz"]) == [2, 1, 1]


def test_encode_padded_keeps_last_tokens():
    v = imdb.Vocab(["a", "b", "c"])
    ids, lens = imdb.encode_padded([["a", "b", "c"], ["c"], []], v, max_len=2)
    assert ids.tolist() == [[3, 4], [4, 0], [1, 0]]
    assert lens.tolist() == [2, 1, 1]


def _tiny_imdb_tar(tmp_path):
    path = tmp_path / "aclImdb_v1.tar.gz"
    files = {"aclImdb/train/pos/0_9.txt": "Great film", "aclImdb/train/neg/1_2.txt": "Awful<br />film",
             "aclImdb/test/pos/2_8.txt": "Loved it", "aclImdb/test/neg/3_1.txt": "Hated it",
             "aclImdb/train/unsup/4_0.txt": "not labelled", "aclImdb/imdb.vocab": "film\n"}
    with tarfile.open(path, "w:gz") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_read_archive_tar_and_folder(tmp_path):
    data = imdb.read_archive(_tiny_imdb_tar(tmp_path))
    assert sorted(zip(data["train"].texts, data["train"].labels.tolist())) == [("Awful<br />film", 0), ("Great film", 1)]
    assert len(data["test"].texts) == 2  # unsup skipped
    folder = tmp_path / "x"
    folder.mkdir()
    with tarfile.open(tmp_path / "aclImdb_v1.tar.gz") as t:
        t.extractall(folder, filter="data")
    again = imdb.read_archive(folder)
    assert sorted(again["test"].texts) == ["Hated it", "Loved it"]


def test_read_archive_bad_inputs(tmp_path):
    bad = tmp_path / "not.tar.gz"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataUnavailable, match="is not a tar archive"):
        imdb.read_archive(bad)
    with pytest.raises(DataUnavailable, match="does not exist"):
        imdb.load(tmp_path / "missing.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailable, match="not an extracted aclImdb folder"):
        imdb.read_archive(tmp_path / "empty")


def test_embedded_demo_subset_is_balanced():
    data = imdb.load(source="embedded")
    assert len(data["train"].texts) == imdb.DEMO_TRAIN and len(data["test"].texts) == imdb.DEMO_TEST
    assert data["train"].labels.mean() == 0.5 and data["test"].labels.mean() == 0.5


def _tiny_glove_zip(tmp_path):
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("glove.6B.3d.txt", "the 0.1 0.2 0.3\naction 1 0 0\nactions 0.9 0.1 0\nbanana -1 0 0\n")
        z.writestr("glove.6B.5d.txt", "the 1 2 3 4 5\n")
    return path


def test_glove_reads_only_requested_rows_from_zip(tmp_path):
    zpath = _tiny_glove_zip(tmp_path)
    assert glove.zip_dimensions(zpath) == {3: "glove.6B.3d.txt", 5: "glove.6B.5d.txt"}
    vecs, found = glove.load_vectors(zpath, 3, ["actions", "missing", "action"])
    assert found.tolist() == [True, False, True]
    np.testing.assert_allclose(vecs, [[0.9, 0.1, 0], [0, 0, 0], [1, 0, 0]])
    assert vecs.dtype == np.float32


def test_glove_missing_dimension_lists_the_present_ones(tmp_path):
    with pytest.raises(DataUnavailable, match=r"no 300-dimensional vectors; dimensions present: 3, 5"):
        glove.load_vectors(_tiny_glove_zip(tmp_path), 300, ["the"])


def test_glove_text_and_gz_files_and_wrong_dimension(tmp_path):
    txt = tmp_path / "vecs.4d.txt"
    txt.write_text("a 1 2 3 4\nb 5 6 7 8\n")
    vecs, found = glove.load_vectors(txt, 4, ["b"])
    assert vecs.tolist() == [[5, 6, 7, 8]] and found.all()
    gz = tmp_path / "vecs.4d.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write("a 1 2 3 4\n")
    assert glove.load_vectors(gz, 4, ["a"])[0].tolist() == [[1, 2, 3, 4]]
    with pytest.raises(DataUnavailable, match="holds 4-dimensional vectors, not 50"):
        glove.load_vectors(txt, 50, ["a"])
    with pytest.raises(DataUnavailable, match="does not exist"):
        glove.load_vectors(tmp_path / "nope.txt", 4, ["a"])


def test_got_csv_rendering_and_errors(tmp_path):
    csv_path = tmp_path / "Game_of_Thrones_Script.csv"
    csv_path.write_text('Release Date,Season,Episode,Episode Title,Name,Sentence\n'
                        '2011-04-17,Season 1,Episode 1,Winter Is Coming,jaime lannister,"Do you know, brother?"\n'
                        '2011-04-17,Season 1,Episode 1,Winter Is Coming,tyrion,\n'
                        '2011-04-17,Season 1,Episode 1,Winter Is Coming,tyrion,"I   drink and\n I know things."\n')
    assert corpora.load("got", str(csv_path)) == ("JAIME LANNISTER: Do you know, brother?\n"
                                                 "TYRION: I drink and I know things.\n")
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataUnavailable, match=r"columns \['Name', 'Sentence'\] missing"):
        corpora.load("got", str(bad))


def test_corpora_unavailable_messages(tmp_path):
    with pytest.raises(DataUnavailable, match="Kaggle"):
        corpora.load("got")  # the isolated cache is empty
    with pytest.raises(DataUnavailable, match="needs a file"):
        corpora.load("text")
    with pytest.raises(DataUnavailable, match="does not exist"):
        corpora.load("text", str(tmp_path / "missing.txt"))
    (tmp_path / "t.txt").write_text("hello")
    assert corpora.load("text", str(tmp_path / "t.txt")) == "hello"


def test_embedded_tiny_shakespeare_is_whole():
    text = corpora.load("tinyshakespeare", source="embedded")
    assert len(text) == 1115394 and len(set(text)) == 65


def test_real_imdb_archive_counts(shared_data):
    data = imdb.read_archive(shared_data / "imdb" / "aclImdb_v1.tar.gz")
    for split in ("train", "test"):
        assert len(data[split].texts) == 25000
        assert int(data[split].labels.sum()) == 12500


def test_real_glove_zip_rows_and_missing_300d(shared_data):
    z = shared_data / "glove" / "glove.6B.zip"
    vecs, found = glove.load_vectors(z, 50, ["action", "actions", "qqqzzzxx"])
    assert found.tolist() == [True, True, False]
    cos = vecs[0] @ vecs[1] / np.linalg.norm(vecs[0]) / np.linalg.norm(vecs[1])
    assert cos > 0.7
    with pytest.raises(DataUnavailable, match="dimensions present: 50"):
        glove.load_vectors(z, 300, ["action"])


def test_offline_download_is_a_clear_data_unavailable(monkeypatch):
    import pooch
    import requests

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataUnavailable, match=r"aclImdb_v1\.tar\.gz.*ai\.stanford\.edu"):
        imdb.load(source="download")
    with pytest.raises(DataUnavailable, match=r"glove\.6B\.zip.*nlp\.stanford\.edu"):
        glove.resolve(None, source="download")
    with pytest.raises(DataUnavailable, match="tinyshakespeare"):
        corpora.load("tinyshakespeare", source="download")
