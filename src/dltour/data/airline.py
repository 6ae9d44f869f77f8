"""AirPassengers: 144 monthly totals of international airline passengers, 1949-01..1960-12
(Box & Jenkins 1976, series G; R's ``datasets::AirPassengers``; public domain).

The whole series is 144 numbers, so it is embedded in the demo pack and the embedded copy *is*
the full dataset. A user's own copy is read by path (``--set data.path=FILE``): any CSV whose last
column holds the monthly counts (the R export ``Date,Passengers`` and the common
``Month,Passengers`` file both work). The download fallback uses a widely mirrored CSV whose
bytes (line endings, header) differ between mirrors, so instead of a pinned checksum the content is
checked: 144 values summing to 40,363.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from dltour.config import DataConfig
from dltour.data.source import DataUnavailable, DatasetSpec, fetch, reading, register_dataset

AIRLINE = register_dataset(DatasetSpec(
    name="airline",
    filename="airline-passengers.csv",
    url="https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
    known_hash=None,
    size=2180,
    licence="public domain (Box & Jenkins series G)",
    description="AirPassengers, 144 monthly totals 1949-01..1960-12 (content-checked: sum 40,363)",
    family="airline",
))

EXPECTED_SUM = 40363
#: sha256 of the 144 monthly counts written as integers joined by commas ("112,118,...,432"): the
#: series' identity whatever the file's format (header, dates, line endings, quoting)
SERIES_SHA256 = "fe529825b8393b6873a1be3d9c484cbd0c7e6853b6ca082612f406a762e2de4e"

DEMO_NOTICE = """`airline.csv`: the whole AirPassengers series (144 monthly totals, 1949-01..1960-12), Box, Jenkins
& Reinsel, *Time Series Analysis*, series G; R `datasets::AirPassengers`. Public domain."""


def _value_column(header: list[str], rows: list[list[str]], path: Path) -> int:
    """The passengers column: the one whose name says so (``Passengers``, ``#Passengers``,
    ``AirPassengers``), else the only column that is numeric in every row; otherwise one line
    naming the columns."""
    named = [j for j, h in enumerate(header) if "passeng" in h.lower()]
    if len(named) == 1:
        return named[0]

    def numeric(j: int) -> bool:
        try:
            return all(len(r) > j and (float(r[j]) or True) for r in rows)
        except ValueError:
            return False

    nums = [j for j in range(len(header)) if numeric(j)]
    if len(nums) == 1:
        return nums[0]
    cols = ", ".join(repr(h) for h in header)
    raise DataUnavailable(f"{path}: cannot tell which column holds the passenger counts (columns {cols}; "
                          f"{len(nums)} numeric); name it 'Passengers' or keep one numeric column")


def read_series(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(months, passengers) from a CSV with a header row; the count column is found by name or as
    the only numeric column (:func:`_value_column`); the months are the first other column."""
    path = Path(path)
    with reading(path, AIRLINE.name), open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if len(rows) < 3:
        raise DataUnavailable(f"{path} has {len(rows)} rows; expected a header and monthly counts")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    j = _value_column(header, body, path)
    months, values = [], []
    for i, r in enumerate(body, start=2):
        try:
            values.append(float(r[j]))
        except (ValueError, IndexError):
            raise DataUnavailable(f"{path}, line {i}: {r[j] if j < len(r) else ''!r} is not a number (expected "
                                  f"the passengers count in column {header[j]!r})") from None
        other = [c for k, c in enumerate(r) if k != j]
        months.append(other[0] if other else str(i - 1))
    return months, np.asarray(values, dtype=np.float64)


def series_sha256(values) -> str:
    """sha256 of the values as integers joined by commas (non-integer values keep their decimals)."""
    import hashlib

    v = np.asarray(values, dtype=np.float64)
    text = ",".join(str(int(x)) if float(x).is_integer() else repr(float(x)) for x in v)
    return hashlib.sha256(text.encode()).hexdigest()


def is_airpassengers(values) -> bool:
    """Whether ``values`` are exactly AirPassengers (checked by :data:`SERIES_SHA256`)."""
    return len(values) == 144 and series_sha256(values) == SERIES_SHA256


def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / "airline.csv"))


class AirlineData(DataConfig):
    """The AirPassengers series: ``path`` is a CSV file whose last column holds the monthly counts."""

    source: Literal["embedded", "download"] = "embedded"
    """Without ``path``: ``embedded`` is the demo pack's copy, which is the whole series (offline);
    ``download`` reads the cache, else the mirrored CSV at its canonical URL (content-checked)."""


def load(path: str | Path | None = None, source: str = "embedded") -> tuple[list[str], np.ndarray]:
    """The series from an explicit path, else the embedded copy (``source="embedded"``), else the
    cache/download (``source="download"``)."""
    if path is not None and not Path(path).expanduser().is_file():
        what = "is a folder, not a file" if Path(path).expanduser().is_dir() else "does not exist"
        raise DataUnavailable(f"airline data.path {str(path)!r} {what}; pass a CSV whose last column holds the "
                              f"monthly passenger counts")
    if path is None:
        path = demo_path() if source == "embedded" else fetch(AIRLINE)
        months, values = read_series(path)
        if len(values) != 144 or int(values.sum()) != EXPECTED_SUM:
            raise DataUnavailable(f"{path} does not hold AirPassengers (144 values summing to {EXPECTED_SUM}; "
                                  f"got {len(values)} summing to {values.sum():.0f})")
        return months, values
    return read_series(fetch(AIRLINE, path=path))


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    """Demo pack: the whole series (1.7 kB)."""
    src = shared_data / "airline" / "Airline.csv"
    dst = demo_dir / "airline.csv"
    dst.write_bytes(src.read_bytes())  # not copyfile: the mirror is read-only and its mode would follow
    return [dst]


def series_for(data: AirlineData) -> tuple[list[str], np.ndarray]:
    """(months, passengers) for a study's data config: ``path`` wins, else ``source``."""
    return load(data.path, data.source)


def windows(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Supervised pairs of a series: (N - w, w) inputs and (N - w,) targets, ``x[i:i+w] -> x[i+w]``."""
    idx = np.arange(len(x) - w)[:, None] + np.arange(w)[None, :]
    return x[idx], x[w:]


def seasonal_naive(y: np.ndarray, start: int) -> np.ndarray:
    """The seasonal-naive forecast of months ``start..`` of a monthly series: the same month a year
    before (``y[t - 12]``)."""
    return y[start - 12:len(y) - 12]
