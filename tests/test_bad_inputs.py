"""The bad-input catalogue (issue 22 item 9): every input a user will plausibly get wrong gets exit
code 2, exactly one line on stderr, and leaves the ledger and the run folders as they were.

Each case runs the real CLI entry point in this process (``dltour.cli.main`` with its argv: the
same code path as the console script, without paying a Python start-up per case) against an
``--out`` that already holds a finished run, and snapshots that folder before and after."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest


def _snapshot(out: Path) -> dict[str, str]:
    """Every file under ``out`` (the ledger's rows, not its bytes: WAL housekeeping may touch them)."""
    snap = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.name.startswith("ledger.sqlite"):
            snap[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    if (out / "ledger.sqlite").exists():
        from dltour.runner.ledger import Ledger

        rows = Ledger(out / "ledger.sqlite").rows()
        snap["<ledger>"] = repr(sorted((r["run_id"], r["status"], r["attempts"]) for r in rows))
    return snap


@pytest.fixture(scope="module")
def seeded_out(tmp_path_factory):
    """An --out with one finished smoke run of airline-lstm (what a user's folder looks like)."""
    out = tmp_path_factory.mktemp("out")
    import dltour

    dltour.run("airline-lstm", profile="smoke", out=out, executor="local")
    return out


def _idx(path: Path, magic: int, dims: tuple[int, ...], data: bytes, gz: bool = True) -> Path:
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _mnist_folder(tmp: Path, break_file: str | None = None, how: str = "") -> Path:
    """A folder of the four MNIST files (tiny, random), one of them damaged ``how``."""
    d = tmp / "mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    spec = {"train-images-idx3-ubyte.gz": (2051, (20, 28, 28)), "train-labels-idx1-ubyte.gz": (2049, (20,)),
            "t10k-images-idx3-ubyte.gz": (2051, (10, 28, 28)), "t10k-labels-idx1-ubyte.gz": (2049, (10,))}
    for name, (magic, dims) in spec.items():
        data = rng.integers(0, 10 if magic == 2049 else 256, int(np.prod(dims)), dtype=np.uint8).tobytes()
        if name == break_file and how == "magic":
            magic = 1234
        if name == break_file and how == "dims":
            dims = (dims[0], 32, 32)[:len(dims)]
        p = _idx(d / name, magic, dims, data)
        if name == break_file and how == "truncate":
            p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
        if name == break_file and how == "flip":
            b = bytearray(p.read_bytes())
            for i in range(20, len(b) - 10, 7):
                b[i] ^= 0xFF
            p.write_bytes(bytes(b))
        if name == break_file and how == "empty":
            p.write_bytes(b"")
    return d


def _file(tmp: Path, name: str, content: bytes) -> Path:
    p = tmp / name
    p.write_bytes(content)
    return p


# (id, argv after "dltour", what the one line must contain); "{tmp}" is a scratch folder, "{out}" the seeded --out
CASES = [
    ("unknown-study", ["run", "no-such-study"], "unknown study"),
    ("unknown-task-id", ["run", "T9.9"], "unknown study"),
    ("unknown-key", ["run", "airline-lstm", "--set", "epoch=3"], "did you mean epochs"),
    ("wrong-type", ["run", "airline-lstm", "--set", "epochs=lots"], "invalid value 'lots'"),
    ("no-equals", ["run", "airline-lstm", "--set", "epochs"], "key=value"),
    ("unknown-profile", ["run", "airline-lstm", "--profile", "huge"], "unknown profile"),
    ("unknown-device", ["run", "airline-lstm", "--device", "tpu"], "unknown device"),
    ("absent-device", ["run", "airline-lstm", "--device", "cuda"], "not available"),
    ("unknown-executor", ["run", "airline-lstm", "--executor", "dask"], "unknown executor"),
    ("unknown-precision", ["run", "airline-lstm", "--precision", "fp16"], "unknown precision"),
    ("zero-seeds", ["run", "airline-lstm", "--seeds", "0"], "invalid value 0 for seeds"),
    ("negative-epochs", ["run", "airline-lstm", "--set", "epochs=-3"], "epochs"),
    ("bad-window-list", ["run", "airline-lstm", "--set", "windows=[0]"], "windows"),
    ("unknown-variant", ["run", "mnist-generative", "--set", "models=[vae-zz]"], "vae-zz"),
    ("unknown-option", ["run", "airline-lstm", "--no-such-flag"], "No such option"),
    ("unknown-command", ["frobnicate"], "No such command"),
    ("only-unknown", ["reproduce", "--only", "airline-lstm,nope"], "unknown study 'nope'"),
    ("report-missing-out", ["report", "--out", "{tmp}/nothing-here"], "does not exist"),
    ("unknown-dataset", ["data", "fetch", "no-such-data"], "unknown dataset"),
    ("fetch-missing-file", ["data", "fetch", "airline", "--from", "{tmp}/missing.csv"], "missing.csv"),
    ("show-unknown", ["show", "no-such-study"], "unknown study"),
    ("describe-unknown", ["describe", "no-such-study"], "unknown study"),
    ("missing-data-path", ["run", "airline-lstm", "--set", "data.path={tmp}/missing.csv"], "does not exist"),
    ("airline-empty", ["run", "airline-lstm", "--set", "data.path={empty_csv}"], "empty_csv.csv"),
    ("airline-3-rows", ["run", "airline-lstm", "--set", "data.path={short_csv}"], "short_csv.csv"),
    ("airline-no-number", ["run", "airline-lstm", "--set", "data.path={words_csv}"], "words_csv.csv"),
    ("airline-binary", ["run", "airline-lstm", "--set", "data.path={binary_csv}"], "binary_csv.csv"),
    ("mnist-truncated", ["run", "mnist-autoencoder", "--set", "data.path={mnist_truncate}"], "t10k-images"),
    ("mnist-flipped", ["run", "mnist-autoencoder", "--set", "data.path={mnist_flip}"], "t10k-images"),
    ("mnist-magic", ["run", "mnist-autoencoder", "--set", "data.path={mnist_magic}"], "t10k-images"),
    ("mnist-dims", ["run", "mnist-autoencoder", "--set", "data.path={mnist_dims}"], "t10k-images"),
    ("mnist-empty-file", ["run", "mnist-generative", "--set", "data.path={mnist_empty}"], "t10k-images"),
    ("mnist-empty-folder", ["run", "mnist-autoencoder", "--set", "data.path={tmp}"], "{tmp}"),
    ("imdb-not-tar", ["run", "imdb-embeddings", "--set", "data.path={binary_csv}"], "binary_csv.csv"),
    ("cifar-not-tar", ["run", "colourise", "--set", "data.path={binary_csv}"], "binary_csv.csv"),
    ("tinyimagenet-bad-zip", ["run", "vgg-transfer", "--set", "data.path={bad_zip}"], "bad.zip"),
    ("ray-unreachable", ["run", "airline-lstm", "--executor", "ray", "--address", "127.0.0.1:1"],
     "nothing answers there"),
    ("ray-bad-port", ["run", "airline-lstm", "--executor", "ray", "--address", "127.0.0.1:http"], "not a number"),
    ("corpus-undecodable", ["run", "char-textgen", "--set", "data.corpus=tinyshakespeare",
                            "--set", "data.path={binary_txt}"], "binary.txt"),
]


@pytest.mark.parametrize("case, argv, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, argv, needle, seeded_out, tmp_path, monkeypatch,
                                                          capsys):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    files = {
        "empty_csv": _file(scratch, "empty_csv.csv", b""),
        "short_csv": _file(scratch, "short_csv.csv", b"Month,Riders\n1949-01,112\n1949-02,118\n1949-03,132\n"),
        "words_csv": _file(scratch, "words_csv.csv", b"Month,Note\n" + b"".join(
            f"19{49 + i // 12}-{i % 12 + 1:02d},high\n".encode() for i in range(144))),
        "binary_csv": _file(scratch, "binary_csv.csv", bytes(range(256)) * 40),
        "binary_txt": _file(scratch, "binary.txt", b"\xff\xfe\xfa" * 5000),
    }
    bad_zip = scratch / "bad.zip"
    with zipfile.ZipFile(bad_zip, "w") as z:
        z.writestr("tiny-imagenet-200/wnids.txt", "n01443537\n")
    b = bytearray(bad_zip.read_bytes())
    b[40:60] = b"\x00" * 20  # damage the member's data
    bad_zip.write_bytes(bytes(b))
    files["bad_zip"] = bad_zip
    for how in ("truncate", "flip", "magic", "dims", "empty"):
        sub = scratch / f"m_{how}"
        sub.mkdir()
        files[f"mnist_{how}"] = _mnist_folder(sub, "t10k-images-idx3-ubyte.gz", how)
    empty_dir = scratch / "emptydir"
    empty_dir.mkdir()
    fill = {k: str(v) for k, v in files.items()} | {"tmp": str(empty_dir)}
    args = [a.format(**fill) for a in argv]
    needle = needle.format(**fill)
    if args[0] in ("run", "reproduce") and "--out" not in args:
        args += ["--out", str(seeded_out)]
    if args[0] == "run" and "--profile" not in args:
        args += ["--profile", "smoke"]
    before = _snapshot(seeded_out)
    monkeypatch.setattr(sys, "argv", ["dltour", *args])
    monkeypatch.setenv("COLUMNS", "200")
    from dltour.cli import main

    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert ex.value.code == 2, err
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(seeded_out) == before
