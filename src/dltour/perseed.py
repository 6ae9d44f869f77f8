"""``Results``: a study's finished runs as per-variant, per-seed values, for summaries and findings.

Every finding decides from per-seed values (``Results.values``), never from bare means, so the
decision rules of :mod:`dltour.verdicts` can pair arms by seed::

    res = Results(results)
    d = compare(res.values("mae", "test_mse"), res.values("mse", "test_mse"), "less", names=("mae", "mse"))
    s.findings.append(Finding.of("mae-lowest-mse", "...", d, ref="R30", section="§3.2, Table 5"))

NaN metrics stay in ``values`` (the decision rules drop and count them); ``nan_runs`` names them
so the summary can say which runs produced NaN.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from dltour.registry import RunResult, by_variant


class Results:
    def __init__(self, results: list[RunResult]):
        self.runs = list(results)
        self.by_variant = by_variant(self.runs)

    @property
    def variants(self) -> list[str]:
        return list(self.by_variant)

    def __contains__(self, variant: str) -> bool:
        return variant in self.by_variant

    def __bool__(self) -> bool:
        return bool(self.runs)

    def seeds(self, variant: str) -> list[int]:
        return [r.seed for r in self.by_variant.get(variant, [])]

    def n(self, variant: str) -> int:
        return len(self.by_variant.get(variant, []))

    def values(self, variant: str, metric: str | Callable[[RunResult], float]) -> dict[int, float]:
        """seed -> value of ``metric`` (a metrics key, or a function of the run) for one variant."""
        out = {}
        for r in self.by_variant.get(variant, []):
            if callable(metric):
                v = metric(r)
            else:
                if metric not in r.metrics:
                    continue
                v = r.metrics[metric]
            out[r.seed] = float("nan") if v is None else float(v)
        return out

    def table(self, metric: str | Callable[[RunResult], float],
              variants: list[str] | None = None) -> dict[str, dict[int, float]]:
        """variant -> seed -> value, for every variant (or those given) that has the metric."""
        vs = variants if variants is not None else self.variants
        return {v: self.values(v, metric) for v in vs if self.values(v, metric)}

    def mean(self, variant: str, metric: str | Callable[[RunResult], float]) -> float:
        """Mean over the seeds with a finite value (NaN when none)."""
        vals = [x for x in self.values(variant, metric).values() if math.isfinite(x)]
        return float(np.mean(vals)) if vals else float("nan")

    def means(self, metric: str | Callable[[RunResult], float], variants: list[str] | None = None) -> dict[str, float]:
        return {v: self.mean(v, metric) for v in (variants if variants is not None else self.variants)
                if self.values(v, metric)}

    def first(self, variant: str) -> RunResult | None:
        """The run with the lowest seed (for example figures)."""
        runs = self.by_variant.get(variant, [])
        return min(runs, key=lambda r: r.seed) if runs else None

    def curves(self, variant: str, key: str) -> dict[int, np.ndarray]:
        """seed -> the per-epoch values of ``key`` from each run's history."""
        out = {}
        for r in self.by_variant.get(variant, []):
            h = r.history()
            vals = [row[key] for row in h if key in row]
            if vals:
                out[r.seed] = np.asarray(vals, dtype=float)
        return out

    def paired_differences(self, a: str, b: str, metric: str) -> dict[int, float]:
        """seed -> value(a) - value(b) over the seeds both variants share."""
        va, vb = self.values(a, metric), self.values(b, metric)
        return {s: va[s] - vb[s] for s in sorted(set(va) & set(vb))}

    def nan_runs(self) -> list[str]:
        """``variant/seed<k>: metric, ...`` for every run with a NaN or infinite metric."""
        out = []
        for r in self.runs:
            bad = [k for k, v in r.metrics.items() if v is None or (isinstance(v, float) and not math.isfinite(v))]
            if bad:
                out.append(f"{r.variant}/seed{r.seed}: {', '.join(bad)}")
        return out
