"""What a study's summary is made of, in one module: :class:`Ref` (a number of the reference),
:class:`Finding` (a checked claim), :class:`Table`, :class:`Comparison` (reference data? budget?),
:class:`Summary` (what ``Study.summarize`` returns), :class:`RunResult` (a finished run read back
from its folder) and :class:`Results` (a study's runs as variant -> seed -> value).

``Results``: every finding decides from per-seed values (``Results.values``), never from bare
means, so the decision rules of :mod:`dltour.verdicts` can pair arms by seed::

    res = Results(results)
    d = compare(res.values("mae", "test_mse"), res.values("mse", "test_mse"), "less", names=("mae", "mse"))
    s.findings.append(Finding.of("mae-lowest-mse", "...", d, ref="R30", section="§3.2, Table 5"))

NaN metrics stay in ``values`` (the decision rules drop and count them); ``nan_runs`` names them
so the summary can say which runs produced NaN.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dltour.fileio import read_csv_rows


@dataclass
class Ref:
    """One number of the reference report."""

    source: str  # "Table 7", "Figure 13"
    variant: str
    metric: str
    value: float
    note: str = ""


@dataclass
class Finding:
    """A claim checked over our results, decided by one rule of :mod:`dltour.verdicts`.

    ``ref`` names the reference claim it decides (``"R30"``, see :mod:`dltour.claims`): such a
    finding's ``source`` is ``reference``; a finding with no ``ref`` is one of *our* checks and is
    counted apart. ``verdict`` is one of ``holds`` / ``does not hold`` / ``inconclusive`` /
    ``not checked``; ``evidence`` holds the numbers (n per arm) and ``test`` what decided it.
    Build one from a decision with :meth:`Finding.of`. ``stats`` holds the decision's numbers
    (``p``, ``effect`` with ``effect_ci`` and ``unit``, Hedges' ``g`` with ``g_ci``, ``n_runs``,
    ``margin``, ``margin_source``, ``flip_margin``, ``reasons``) for the report's adjustments and
    ``claims.json``.
    """

    id: str
    claim: str
    verdict: str
    evidence: str
    test: str = ""
    ref: str | None = None
    section: str = ""  # where the reference says it ("§3.2, Table 5")
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        from dltour.verdicts import VERDICTS

        if self.verdict not in VERDICTS:
            raise ValueError(f"finding {self.id!r}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.ref is not None:
            from dltour.claims import CLAIMS

            if self.ref not in CLAIMS:
                raise ValueError(f"finding {self.id!r}: unknown reference claim {self.ref!r}")
        if self.verdict in ("holds", "does not hold") and not self.test:
            raise ValueError(f"finding {self.id!r}: a decided verdict needs the test that decided it")

    @classmethod
    def of(cls, id: str, claim: str, decision, *, ref: str | None = None, section: str = "",
           evidence: str = "", budget=None, scale_note: str = "") -> "Finding":
        """A finding from a :class:`dltour.verdicts.Decision`; ``evidence`` is prepended to the
        decision's own. ``budget`` (a :class:`dltour.verdicts.Budget`): the curves the claim
        depends on; :func:`dltour.verdicts.budget_gate` is applied here, so a "does not hold" that
        a short budget may have made becomes "inconclusive" with its reason. ``scale_note`` (e.g.
        what differs from the reference's scale) is kept in ``stats["scale_note"]``."""
        from dltour.verdicts import budget_gate

        if budget is not None:
            decision = budget_gate(decision, budget)
        ev = f"{evidence}; {decision.evidence}" if evidence else decision.evidence
        st = decision.stats() if hasattr(decision, "stats") else {}
        if scale_note:
            st["scale_note"] = scale_note
        return cls(id, claim, decision.verdict, ev, decision.test, ref, section, st)

    @property
    def source(self) -> str:
        return "reference" if self.ref else "ours"

    @property
    def holds(self) -> bool | None:
        return {"holds": True, "does not hold": False}.get(self.verdict)

    def as_dict(self) -> dict:
        return {"id": self.id, "claim": self.claim, "verdict": self.verdict, "holds": self.holds,
                "evidence": self.evidence, "test": self.test, "source": self.source, "ref": self.ref,
                "section": self.section, "stats": dict(self.stats)}


@dataclass
class Table:
    """A table as data: the report renders it to Markdown and HTML. ``bold`` lists (row, column)
    cells to emphasise (e.g. the best value per column)."""

    title: str
    header: list[str]
    rows: list[list[Any]]
    bold: list[tuple[int, int]] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        return {"title": self.title, "header": [str(h) for h in self.header],
                "rows": [[_cell(c) for c in r] for r in self.rows], "bold": [list(b) for b in self.bold],
                "note": self.note}


def _cell(c: Any) -> str:
    if isinstance(c, float):
        from dltour.verdicts import fmt

        return fmt(c)
    return str(c)


@dataclass
class Comparison:
    """Whether a config's results can be set beside the reference's numbers: the reference's data
    (``data``) and its budget (``budget``: epochs, subset sizes). ``why`` says what differs."""

    data: bool
    budget: bool
    why: str = ""
    #: whether the data are what the reference's claims are about (its dataset, a subset of it, or the
    #: study's own embedded analogue); False (e.g. Fashion-MNIST given as MNIST): no reference claim is
    #: decided (:func:`data_gate`), ``about_why`` says what the data are
    about: bool = True
    about_why: str = ""

    @property
    def ok(self) -> bool:
        return self.data and self.budget

    def as_dict(self) -> dict:
        return {"data": self.data, "budget": self.budget, "why": self.why, "about": self.about,
                "about_why": self.about_why}

    @classmethod
    def check(cls, data_ok: bool, data_why: str, budget: dict[str, tuple[float, float]],
              about: tuple[bool, str] = (True, "")) -> "Comparison":
        """From a data check and ``budget``: name -> (ours, the reference's); the budget is the
        reference's when every item reaches it. ``about``: whether the data are what the claims are
        about, and if not what they are."""
        short = [f"{k} {ours:g} < {ref:g}" for k, (ours, ref) in budget.items() if ours < ref]
        why = "; ".join(([data_why] if not data_ok and data_why else [])
                        + ([f"budget differs: {', '.join(short)}"] if short else []))
        return cls(data_ok, not short, why, about[0], about[1])


def data_gate(findings: list["Finding"], cmp: "Comparison", what: str = "the reference's data") -> list["Finding"]:
    """The one gate on data for every study: when the data are not what the reference's claims are
    about (``cmp.about`` False), every finding of a reference claim becomes ``not applicable`` (shown,
    not counted), its test saying why and what the rule alone said; our own checks are kept.
    ``what``: the data the claims are about, in words ("MNIST digits")."""
    from dataclasses import replace

    from dltour.verdicts import NOT_APPLICABLE

    if cmp.about:
        return list(findings)
    out = []
    for f in findings:
        if f.ref is None:
            out.append(f)
            continue
        why = f"not applicable: the claim is about {what}, and these data are not ({cmp.about_why or 'unrecognised'})"
        out.append(replace(f, verdict=NOT_APPLICABLE, test=f"{why}; the rule alone said {f.verdict!r}",
                           stats={**f.stats, "reasons": list(f.stats.get("reasons") or []) + [why]}))
    return out


def by_variant(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Finished runs grouped by variant (seeds in the order given)."""
    out: dict[str, list[RunResult]] = {}
    for r in results:
        out.setdefault(r.variant, []).append(r)
    return out


@dataclass
class Summary:
    """What a study's ``summarize`` returns; the runner adds the aggregated metrics."""

    findings: list[Finding] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # file names written in the summary folder
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # baselines


@dataclass
class RunResult:
    """A finished run as the summary sees it: read back from its folder."""

    variant: str
    seed: int
    run_id: str
    run_dir: Path
    metrics: dict[str, float]

    def history(self) -> list[dict[str, float]]:
        return read_csv_rows(self.run_dir / "history.csv")

    def arrays(self, name: str = "arrays") -> dict[str, Any]:
        with np.load(self.run_dir / f"{name}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def json(self, name: str) -> Any:
        return json.loads((self.run_dir / f"{name}.json").read_text())


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
