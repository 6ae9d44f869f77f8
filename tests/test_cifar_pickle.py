"""CIFAR's python batches are pickles: they are read with a restricted unpickler, so a crafted
archive passed as ``data.path`` cannot run code (issue 23, item 1)."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from dltour.data.images import load_cifar_python
from dltour.data.source import DataUnavailable


def _add(t: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))


def _archive(path, meta_payload: bytes | None = None, protocol: int = 2):
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as t:
        for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            d = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
            _add(t, f"cifar-10-batches-py/{b}", pickle.dumps(d, protocol=protocol))
        meta = {b"label_names": [f"c{i}".encode() for i in range(10)]}
        _add(t, "cifar-10-batches-py/batches.meta", meta_payload or pickle.dumps(meta, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_well_formed_batch_loads(tmp_path, protocol):
    s = load_cifar_python(_archive(tmp_path / "c.tar.gz", protocol=protocol), "train")
    assert s.x.shape == (20, 32, 32, 3) and s.y.tolist()[:4] == [0, 1, 2, 3] and s.classes[:2] == ["c0", "c1"]


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


def test_a_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = pickle.dumps({b"label_names": [_Payload(marker)]}, protocol=2)
    with pytest.raises(DataUnavailable, match="not a CIFAR python batch.*not allowed"):
        load_cifar_python(_archive(tmp_path / "evil.tar.gz", meta_payload=bad), "train")
    assert not marker.exists()
