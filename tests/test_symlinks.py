"""Files dltour creates never follow a symlink planted at their name (issue 23, item 3): the --out
write probe, run and data locks, and the copy of a user's file into the cache."""

import os

import pytest

from dltour import DltourError
from dltour.data.source import copy_into_cache, DatasetSpec
from dltour.fileio import file_lock
from dltour.runner.driver import check_out_dir


def test_the_write_probe_leaves_a_planted_link_and_its_target_alone(tmp_path):
    target = tmp_path / "victim"
    target.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dltour-write-test").symlink_to(target)
    check_out_dir(out)
    assert target.read_text() == "precious" and (out / ".dltour-write-test").is_symlink()
    assert [p.name for p in out.iterdir()] == [".dltour-write-test"]  # no probe left behind


def test_a_lock_planted_as_a_symlink_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "victim"
    target.write_text("precious")
    lock = tmp_path / "run" / ".lock"
    lock.parent.mkdir()
    lock.symlink_to(target)
    with pytest.raises(DltourError, match="symbolic link"):
        with file_lock(lock):
            pass
    assert target.read_text() == "precious"


def test_a_plain_lock_is_kept_and_not_truncated(tmp_path):
    lock = tmp_path / ".lock"
    with file_lock(lock):
        pass
    lock.write_text("x")
    with file_lock(lock):
        assert lock.read_text() == "x"


def test_copy_into_cache_replaces_a_planted_link_instead_of_writing_through_it(tmp_path):
    import hashlib

    src = tmp_path / "data.bin"
    src.write_bytes(b"the data")
    spec = DatasetSpec(name="t", filename="data.bin", url="https://example.org/data.bin",
                       known_hash="sha256:" + hashlib.sha256(b"the data").hexdigest(), size=8, licence="-",
                       description="test")
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (cache / "data.bin").symlink_to(victim)
    out = copy_into_cache(src, spec, cache)
    assert victim.read_text() == "precious" and not out.is_symlink() and out.read_bytes() == b"the data"
    assert sorted(os.listdir(cache)) == ["data.bin"]
