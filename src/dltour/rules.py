"""Rules as data: how a declared finding is decided from the runs' values (issue 20, item 2).

A study declares each finding once (:class:`dltour.summary.Declared`) with its rule, built from the
pieces below, and supplies only :class:`Runs`: per-run values (metric -> variant -> {seed: value}),
the constants its evidence and thresholds name (a baseline's error, the ground truth's colourfulness)
and the arms that did not learn (:func:`not_learned`). The rule module makes the decision, the verdict,
the test line and the evidence; the study writes no decision code::

    Declared("unet-mae-le-cgan", "By test MAE the U-Net is better than the cGAN", "R42", "§4.2",
             rule=Gated(Compare("test_mae", "unet", "cgan", "less", what="test MAE"), ("unet",)))

- :class:`Compare`: one arm's metric against another's, paired by seed (:func:`dltour.verdicts.compare`);
- :class:`Exceeds`: one arm's metric against a threshold (a number or a named constant), optionally
  as a fraction of a named constant (:func:`dltour.verdicts.exceeds`);
- :class:`AllOf`: every part holds, Holm-adjusted (:func:`dltour.verdicts.all_of`); ``present=True``
  keeps only the parts whose arms ran;
- :class:`Gated`: a decision about arms of which one did not learn is not a verdict
  (:func:`dltour.verdicts.gate`);
- :class:`Requires`: inconclusive, with a stated reason, unless a named constant is positive.

A rule whose arms did not all run makes no finding (``applies``). Evidence is a template: ``{name}``
is a constant (formatted by :func:`dltour.verdicts.fmt`), ``{metric@arm}`` an arm's per-seed values
described as mean ± sd (:func:`dltour.verdicts.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from dltour import verdicts as V

PerSeed = Mapping[int, float]


@dataclass(frozen=True)
class Runs:
    """What a study supplies to its declared findings: ``metrics[metric][variant] = {seed: value}``,
    named constants (the same for every run: a baseline, the ground truth) and ``failed``:
    variant -> why it did not learn (:func:`not_learned`)."""

    metrics: Mapping[str, Mapping[str, PerSeed]]
    consts: Mapping[str, float] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)

    def of(self, metric: str, arm: str) -> PerSeed:
        return self.metrics.get(metric, {}).get(arm, {})

    def has(self, metric: str, arm: str) -> bool:
        return arm in self.metrics.get(metric, {})

    def const(self, value: float | str) -> float:
        return self.consts[value] if isinstance(value, str) else value


class Rule(Protocol):
    def applies(self, runs: Runs) -> bool: ...

    def decide(self, runs: Runs) -> V.Decision: ...


@dataclass(frozen=True)
class Compare:
    """``arm``'s ``metric`` is ``direction`` (less, greater) than ``other``'s, paired by seed."""

    metric: str
    arm: str
    other: str
    direction: str
    what: str = ""
    unit: str = ""

    def applies(self, runs: Runs) -> bool:
        return runs.has(self.metric, self.arm) and runs.has(self.metric, self.other)

    def decide(self, runs: Runs) -> V.Decision:
        return V.compare(runs.of(self.metric, self.arm), runs.of(self.metric, self.other), self.direction,
                         names=(self.arm, self.other), what=self.what or self.metric, unit=self.unit)


@dataclass(frozen=True)
class Exceeds:
    """``arm``'s ``metric`` (divided by the constant ``per`` when given) is ``direction`` than
    ``threshold`` (a number or a constant's name); ``name`` labels the values in the test line."""

    metric: str
    arm: str
    threshold: float | str
    direction: str
    name: str = ""
    what: str = ""
    unit: str = ""
    per: str | None = None

    def applies(self, runs: Runs) -> bool:
        return runs.has(self.metric, self.arm)

    def decide(self, runs: Runs) -> V.Decision:
        vals = dict(runs.of(self.metric, self.arm))
        if self.per is not None:
            vals = {sd: x / runs.consts[self.per] for sd, x in vals.items()}
        return V.exceeds(vals, runs.const(self.threshold), self.direction, name=self.name or self.arm,
                         what=self.what, unit=self.unit)


@dataclass(frozen=True)
class AllOf:
    """Every part holds (Holm-adjusted); ``labels`` name the parts in the test line. With
    ``present=True`` only the parts whose arms ran count (the rule applies when one did)."""

    parts: tuple
    labels: tuple[str, ...] | None = None
    present: bool = False

    def _kept(self, runs: Runs) -> list[int]:
        return [i for i, p in enumerate(self.parts) if not self.present or p.applies(runs)]

    def applies(self, runs: Runs) -> bool:
        if self.present:
            return any(p.applies(runs) for p in self.parts)
        return all(p.applies(runs) for p in self.parts)

    def decide(self, runs: Runs) -> V.Decision:
        keep = self._kept(runs)
        labels = None if self.labels is None else [self.labels[i] for i in keep]
        return V.all_of([self.parts[i].decide(runs) for i in keep], labels=labels)


@dataclass(frozen=True)
class Gated:
    """``rule``'s decision, unless one of ``involved`` did not learn (then no verdict: the reason)."""

    rule: Rule
    involved: tuple[str, ...]

    def applies(self, runs: Runs) -> bool:
        return self.rule.applies(runs)

    def decide(self, runs: Runs) -> V.Decision:
        return V.gate(self.rule.decide(runs), runs.failed, list(self.involved))


@dataclass(frozen=True)
class Requires:
    """``rule``'s decision when the constant ``const`` is positive; otherwise inconclusive, ``why``
    (a template of the constants) saying why."""

    rule: Rule
    const: str
    why: str

    def applies(self, runs: Runs) -> bool:
        return self.rule.applies(runs)

    def decide(self, runs: Runs) -> V.Decision:
        if runs.consts[self.const] > 0:
            return self.rule.decide(runs)
        return V.inconclusive(evidence(self.why, runs))


@dataclass(frozen=True)
class Learned:
    """How to tell that ``arm`` learned: its ``metric`` is ``direction`` than the constant
    ``baseline`` (a trivial predictor's); ``note`` is added to the reason when it did not."""

    arm: str
    metric: str
    baseline: str
    direction: str
    note: str = ""


def not_learned(checks: Sequence[Learned], runs: Runs) -> dict[str, str]:
    """variant -> why it did not learn, for the arms of ``checks`` that ran
    (:func:`dltour.verdicts.did_not_learn`, each reason with its check's note)."""
    failed: dict[str, str] = {}
    for c in checks:
        if not runs.has(c.metric, c.arm):
            continue
        why = V.did_not_learn({c.arm: runs.of(c.metric, c.arm)}, runs.consts[c.baseline], c.direction)
        if c.arm in why:
            failed[c.arm] = why[c.arm] + c.note
    return failed


class _Fields(dict):
    def __init__(self, runs: Runs):
        super().__init__()
        self.runs = runs

    def __missing__(self, key: str) -> str:
        if "@" in key:
            metric, arm = key.split("@", 1)
            return V.describe(arm, self.runs.of(metric, arm))
        return V.fmt(self.runs.consts[key])


def evidence(template: str, runs: Runs) -> str:
    """``template`` filled from ``runs``: ``{name}`` a constant, ``{metric@arm}`` an arm's values."""
    return template.format_map(_Fields(runs)) if template else ""
