"""The data layer over a local HTTP server on 127.0.0.1: download, checksum, cache, explicit path,
safe extraction and the offline error."""

import hashlib
import http.server
import io
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from dltour.data.source import DataUnavailable, DatasetSpec, fetch, safe_extract, verify


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _spec(url, data: bytes | None, name="toy", hash_ok=True):
    digest = hashlib.sha256(data if hash_ok else b"other").hexdigest() if data is not None else None
    return DatasetSpec(name, f"{name}.bin", url, f"sha256:{digest}" if digest else None, None, "test", "toy data")


def test_download_verify_and_cache(server, tmp_path):
    root, base = server
    payload = b"hello dltour" * 100
    (root / "toy.bin").write_bytes(payload)
    spec = _spec(f"{base}/toy.bin", payload)
    cache = tmp_path / "cache"
    path = fetch(spec, folder=cache, progress=False)
    assert path.read_bytes() == payload and path.parent == cache
    assert verify(spec, cache) == (True, "verified")
    (root / "toy.bin").unlink()  # the cache is used from now on: no network needed
    assert fetch(spec, folder=cache, progress=False) == path


def test_checksum_mismatch_removes_file(server, tmp_path):
    root, base = server
    (root / "toy.bin").write_bytes(b"tampered")
    spec = _spec(f"{base}/toy.bin", b"tampered", hash_ok=False)
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailable, match="checksum"):
        fetch(spec, folder=cache, progress=False)
    assert not (cache / "toy.bin").exists()


def test_corrupt_cache_is_reported(tmp_path):
    spec = _spec("http://127.0.0.1:9/toy.bin", b"good")
    (tmp_path / "toy.bin").write_bytes(b"bad")
    with pytest.raises(DataUnavailable, match="does not match its checksum"):
        fetch(spec, folder=tmp_path)
    assert verify(spec, tmp_path)[0] is False


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_offline_error_names_file_folder_and_url(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/toy.bin"
    spec = _spec(url, b"x")
    with pytest.raises(DataUnavailable) as e:
        fetch(spec, folder=tmp_path / "cache", progress=False)
    msg = str(e.value)
    assert "toy.bin" in msg and str(tmp_path / "cache") in msg and url in msg


def test_explicit_path_wins_and_missing_path_is_clear(tmp_path):
    spec = _spec("http://127.0.0.1:9/toy.bin", b"x")
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"user copy")
    assert fetch(spec, path=mine) == mine
    with pytest.raises(DataUnavailable, match="does not exist"):
        fetch(spec, path=tmp_path / "nope.bin")


def _tar_with(tmp_path, name, member: tarfile.TarInfo, data=b"x"):
    p = tmp_path / name
    with tarfile.open(p, "w:gz") as t:
        ok = tarfile.TarInfo("good/file.txt")
        ok.size = 2
        t.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(data) if member.isfile() else 0
        t.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return p


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_safe_extract_refuses_traversal_tar(tmp_path, bad):
    arc = _tar_with(tmp_path, "evil.tar.gz", tarfile.TarInfo(bad))
    dest = tmp_path / "out"
    with pytest.raises(DataUnavailable, match="outside"):
        safe_extract(arc, dest)
    assert not (tmp_path / "escape.txt").exists() and not (dest / "good").exists()  # nothing written


def test_safe_extract_refuses_links(tmp_path):
    link = tarfile.TarInfo("good/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    arc = _tar_with(tmp_path, "link.tar.gz", link)
    with pytest.raises(DataUnavailable, match="link"):
        safe_extract(arc, tmp_path / "out")


def test_safe_extract_zip(tmp_path):
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w") as z:
        z.writestr("d/a.txt", "A")
    safe_extract(ok, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "a.txt").read_text() == "A"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../evil.txt", "E")
    with pytest.raises(DataUnavailable, match="outside"):
        safe_extract(evil, tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists()


def test_airline_reader_and_bad_file(tmp_path):
    from dltour.data import airline

    months, y = airline.load()
    assert len(y) == 144 and int(y.sum()) == 40363 and months[0] == "1949-01"
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,Passengers\n1949-01,lots\n1949-02,3\n")
    with pytest.raises(DataUnavailable, match="line 2"):
        airline.load(bad)


def test_not_downloadable_spec_says_so(tmp_path):
    spec = DatasetSpec("login", "login.csv", "https://example.org/needs-login", None, None, "x", "toy",
                       downloadable=False)
    with pytest.raises(DataUnavailable, match="cannot be downloaded automatically") as e:
        fetch(spec, folder=tmp_path)
    assert str(tmp_path) in str(e.value) and "https://example.org/needs-login" in str(e.value)


def test_concurrent_cache_writers_leave_a_whole_file(tmp_path):
    """Parallel workers building the same decoded cache: each writes under its own temporary name
    and renames, so the cache is always a whole file and no temporary is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from dltour.data.source import save_npz_atomic

    target = tmp_path / "cache" / "images.npz"
    x = np.arange(200_000, dtype=np.uint8)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: save_npz_atomic(target, x=x, i=np.array(i)), range(8)))
    with np.load(target) as z:
        assert (z["x"] == x).all() and int(z["i"]) in range(8)
    assert [p.name for p in target.parent.iterdir()] == ["images.npz"]


def test_concurrent_fetches_download_once(tmp_path, monkeypatch):
    """Two workers of one node asking for the same dataset: one download, the other waits for it
    (issue 22 item 2, once per node on Ray)."""
    import hashlib
    import threading
    import time

    import pooch

    from dltour.data.source import DatasetSpec, fetch

    payload = b"x" * 1000
    spec = DatasetSpec("once-test", "once.bin", "https://example.invalid/once.bin",
                       "sha256:" + hashlib.sha256(payload).hexdigest(), 1000, "test", "test")
    calls = []

    def slow_retrieve(url, known_hash, fname, path, progressbar):
        calls.append(url)
        time.sleep(0.5)
        (Path(path) / fname).write_bytes(payload)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", slow_retrieve)
    got = []
    threads = [threading.Thread(target=lambda: got.append(fetch(spec, folder=tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 3 and all(p.read_bytes() == payload for p in got)
