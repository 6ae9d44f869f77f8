"""``dltour compare OUT_A OUT_B``: two output folders side by side, per study, variant and metric.

The unit is the run (seed), as everywhere in dltour: each side's per-run values come from its
study summaries (``<out>/<study>/summary.json``, ``per_run``: the runs the summary was computed
from), or, for a study without a summary, from the finished runs in ``<out>/ledger.sqlite``. For
each (study, variant, metric) both folders have, the rows hold both means and run counts, the
difference B - A and its 95% confidence interval from Welch's t (unequal variances;
``scipy.stats.ttest_ind(..., equal_var=False)``) and its p-value. With fewer than two runs on a side
there is no interval (``None``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dltour.errors import DltourError

COLUMNS = ("study", "variant", "metric", "mean_a", "n_a", "mean_b", "n_b", "diff", "ci95_low", "ci95_high", "p",
           "source_a", "source_b", "profile_a", "profile_b")


def _finite(values) -> list[float]:
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            out.append(x)
    return out


def per_run_values(out: str | Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(study, variant, metric) -> {"values": [per-run values], "source": ..., "profile": ...}``
    for one output folder (summaries first, the ledger for studies without one)."""
    out = Path(out)
    if not out.is_dir():
        raise DltourError(f"{out} is not a folder; give two --out folders of `dltour run`/`dltour reproduce`")
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    summarized = set()
    for path in sorted(out.glob("*/summary.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DltourError(f"cannot read {path}: {' '.join(str(e).split())}") from None
        study = doc.get("study") or path.parent.name
        per_run = doc.get("per_run") or {}
        if not per_run:
            continue
        summarized.add(study)
        for variant, metrics in per_run.items():
            for metric, by_seed in (metrics or {}).items():
                values = by_seed.values() if isinstance(by_seed, dict) else (by_seed or [])
                found[(study, str(variant), str(metric))] = {
                    "values": _finite(values), "source": "summary", "profile": doc.get("profile")}
    ledger = out / "ledger.sqlite"
    if ledger.is_file():
        from dltour.runner.ledger import Ledger

        for row in Ledger(ledger).rows():
            if row["study"] in summarized or row["status"] != "finished":
                continue
            for metric, value in (row.get("metrics") or {}).items():
                entry = found.setdefault((row["study"], row["variant"], str(metric)),
                                         {"values": [], "source": "ledger", "profile": row.get("profile")})
                entry["values"] += _finite([value])
    if not found:
        raise DltourError(f"{out} has no study summaries or finished runs; run `dltour run` or "
                          f"`dltour reproduce --out {out}` first")
    return found


def welch(a: list[float], b: list[float]) -> tuple[float | None, float | None, float | None]:
    """The 95% CI of mean(b) - mean(a) by Welch's t (Welch-Satterthwaite degrees of freedom), and
    its two-sided p: the numbers of ``scipy.stats.ttest_ind(b, a, equal_var=False)`` and its
    ``confidence_interval()``, computed here so scipy < 1.11 gives them too. Nones with fewer than 2
    runs a side; two constant samples give the difference itself as the interval and no p."""
    if len(a) < 2 or len(b) < 2:
        return None, None, None
    from scipy import stats

    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    diff = mb - ma
    se2 = va / na + vb / nb
    if not se2 > 0:
        return diff, diff, None
    se = math.sqrt(se2)
    dof = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = float(stats.t.ppf(0.975, dof)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, dof))
    return diff - half, diff + half, p


def compare(out_a: str | Path, out_b: str | Path, study: str | None = None,
            metric: str | None = None) -> list[dict[str, Any]]:
    """One row per (study, variant, metric) present in both folders (optionally one study /
    metric), in the order of folder A's summaries; keys as :data:`COLUMNS`."""
    a, b = per_run_values(out_a), per_run_values(out_b)
    rows = []
    for key in a:
        if key not in b:
            continue
        st, variant, met = key
        if (study and st != study) or (metric and met != metric):
            continue
        va, vb = a[key]["values"], b[key]["values"]
        mean_a = sum(va) / len(va) if va else None
        mean_b = sum(vb) / len(vb) if vb else None
        diff = mean_b - mean_a if mean_a is not None and mean_b is not None else None
        low, high, p = welch(va, vb)
        rows.append({"study": st, "variant": variant, "metric": met, "mean_a": mean_a, "n_a": len(va),
                     "mean_b": mean_b, "n_b": len(vb), "diff": diff, "ci95_low": low, "ci95_high": high, "p": p,
                     "source_a": a[key]["source"], "source_b": b[key]["source"],
                     "profile_a": a[key]["profile"], "profile_b": b[key]["profile"]})
    if not rows:
        what = " ".join(x for x in (study and f"study {study}", metric and f"metric {metric}") if x)
        raise DltourError(f"{out_a} and {out_b} share no (study, variant, metric)" + (f" for {what}" if what else ""))
    return rows
