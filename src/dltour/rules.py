"""Rules as data: how a declared finding is decided from the runs' values (issue 20, item 2).

A study declares each finding once (:class:`dltour.summary.Declared`) with its rule, built from the
pieces below, and supplies only :class:`Runs`: per-run values (metric -> variant -> {seed: value}),
the constants its evidence and thresholds name (a baseline's error, the ground truth's colourfulness)
and the arms that did not learn (:func:`not_learned`). The rule module makes the decision, the verdict,
the test line and the evidence; the study writes no decision code::

    Declared("unet-mae-le-cgan", "By test MAE the U-Net is better than the cGAN", "R42", "§4.2",
             rule=Gated(Compare("test_mae", "unet", "cgan", "less", what="test MAE"), ("unet",)))

- :class:`Compare`: one arm's metric against another's, paired by seed (:func:`dltour.verdicts.compare`);
  :class:`Versus` the same for any two (metric, arm) pairs;
- :class:`BestOf`: one arm's metric is the best of several (:func:`dltour.verdicts.best_of`);
- :class:`NearReference`: one arm's metric equals the reference's number within a stated margin (TOST);
- :class:`Exceeds`: one arm's metric against a threshold (a number or a named constant), optionally
  as a fraction of a named constant (:func:`dltour.verdicts.exceeds`);
- :class:`AllOf`: every part holds, Holm-adjusted (:func:`dltour.verdicts.all_of`); ``present=True``
  keeps only the parts whose arms ran;
- :class:`Gated`: a decision about arms of which one did not learn is not a verdict
  (:func:`dltour.verdicts.gate`); :class:`GatedEvery` over every arm of a metric that ran;
- :class:`Needs`: "not checked", with its reason, when the rule's arms did not run (instead of no finding);
- :class:`Noted`: a note the study writes (a text or a function of the runs) before the evidence;
- :class:`Requires`: inconclusive, with a stated reason, unless a named constant is positive.

A rule whose arms did not all run makes no finding (``applies``). Evidence is a template: ``{name}``
is a constant (formatted by :func:`dltour.verdicts.fmt`), ``{metric@arm}`` an arm's per-seed values
described as mean ± sd (:func:`dltour.verdicts.describe`; the arm is what follows the last ``@``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Protocol, Sequence

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
    what: str | None = None  # None: the metric's name; "": none
    unit: str = ""

    def applies(self, runs: Runs) -> bool:
        return runs.has(self.metric, self.arm) and runs.has(self.metric, self.other)

    def decide(self, runs: Runs) -> V.Decision:
        return V.compare(runs.of(self.metric, self.arm), runs.of(self.metric, self.other), self.direction,
                         names=(self.arm, self.other), what=self.metric if self.what is None else self.what,
                         unit=self.unit)


@dataclass(frozen=True)
class Versus:
    """One (metric, arm)'s values against another's, paired by seed (:func:`dltour.verdicts.compare`):
    e.g. an arm after training against the same runs before it, or two derived arms; ``names``: the two
    as the test line calls them."""

    a: tuple[str, str]
    b: tuple[str, str]
    direction: str
    names: tuple[str, str]
    what: str = ""
    unit: str = ""

    def applies(self, runs: Runs) -> bool:
        return runs.has(*self.a) and runs.has(*self.b)

    def decide(self, runs: Runs) -> V.Decision:
        return V.compare(runs.of(*self.a), runs.of(*self.b), self.direction, names=self.names, what=self.what,
                         unit=self.unit)


@dataclass(frozen=True)
class BestOf:
    """``arm``'s ``metric`` is the lowest (``less``) / highest (``greater``) of ``arms`` (None: of every
    arm that ran), each pair compared by seed, Holm within (:func:`dltour.verdicts.best_of`, which says
    "not checked" when ``arm`` did not run or ran alone). It applies when ``arms`` all ran; with
    ``arms`` None, when ``arm`` and at least ``least`` arms in all ran (0: always)."""

    metric: str
    arm: str
    direction: str
    what: str = ""
    unit: str = ""
    arms: tuple[str, ...] | None = None
    least: int = 0

    def applies(self, runs: Runs) -> bool:
        if self.arms is not None:
            return all(runs.has(self.metric, a) for a in self.arms)
        return self.least == 0 or (runs.has(self.metric, self.arm)
                                   and len(runs.metrics.get(self.metric, {})) >= self.least)

    def decide(self, runs: Runs) -> V.Decision:
        vals = (dict(runs.metrics.get(self.metric, {})) if self.arms is None
                else {a: runs.of(self.metric, a) for a in self.arms})
        return V.best_of(vals, self.arm, self.direction, what=self.what, unit=self.unit)


@dataclass(frozen=True)
class NearReference:
    """``arm``'s ``metric`` equals ``reference`` (a number or a constant's name) within ±``margin``
    (:func:`dltour.verdicts.near_reference`, TOST; ``margin_source`` says where the margin comes from)."""

    metric: str
    arm: str
    reference: float | str
    margin: float
    margin_source: str
    name: str
    what: str = ""
    unit: str = ""

    def applies(self, runs: Runs) -> bool:
        return runs.has(self.metric, self.arm)

    def decide(self, runs: Runs) -> V.Decision:
        return V.near_reference(runs.of(self.metric, self.arm), runs.const(self.reference), self.margin,
                                margin_source=self.margin_source, name=self.name, what=self.what, unit=self.unit)


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
class GatedEvery:
    """:class:`Gated` over every arm of ``metric`` that ran, in order (for arms known only from the
    runs: every window, every depth)."""

    rule: Rule
    metric: str

    def applies(self, runs: Runs) -> bool:
        return self.rule.applies(runs)

    def decide(self, runs: Runs) -> V.Decision:
        return V.gate(self.rule.decide(runs), runs.failed, list(runs.metrics.get(self.metric, {})))


@dataclass(frozen=True)
class Needs:
    """``rule``'s decision, or "not checked" saying ``why`` when its arms did not run (the finding is
    shown either way)."""

    rule: Rule
    why: str

    def applies(self, runs: Runs) -> bool:
        return True

    def decide(self, runs: Runs) -> V.Decision:
        return self.rule.decide(runs) if self.rule.applies(runs) else V.not_checked(self.why)


@dataclass(frozen=True)
class Noted:
    """``rule``'s decision with ``note`` (a text, or a function of the runs: evidence a template cannot
    write) before its evidence."""

    rule: Rule
    note: str | Callable[[Runs], str]

    def applies(self, runs: Runs) -> bool:
        return self.rule.applies(runs)

    def decide(self, runs: Runs) -> V.Decision:
        d = self.rule.decide(runs)
        text = self.note if isinstance(self.note, str) else self.note(runs)
        return replace(d, evidence=f"{text}; {d.evidence}") if text else d


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
            metric, arm = key.rsplit("@", 1)  # a metric's name may hold "@" (e.g. "is@cnn"), an arm's not
            return V.describe(arm, self.runs.of(metric, arm))
        return V.fmt(self.runs.consts[key])


def evidence(template: str, runs: Runs) -> str:
    """``template`` filled from ``runs``: ``{name}`` a constant, ``{metric@arm}`` an arm's values."""
    return template.format_map(_Fields(runs))
