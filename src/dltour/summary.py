"""What a study's summary is made of, in one module: :class:`Ref` (a number of the reference),
:class:`Finding` (a checked claim), :class:`Table`, :class:`Comparison` (reference data? budget?),
:class:`Summary` (what ``Study.summarize`` returns), :class:`RunResult` (a finished run read back
from its folder) and :class:`Results` (a study's runs as variant -> seed -> value).

``Results``: every finding decides from per-seed values (``Results.values``), never from bare
means, so the decision rules of :mod:`dltour.verdicts` can pair arms by seed::

    res = Results(results)
    d = compare(res.values("mae", "test_mse"), res.values("mse", "test_mse"), "less", names=("mae", "mse"))
    s.findings.append(FINDINGS["mae-lowest-mse"].of(d))  # declared once: see :class:`Declared`

NaN metrics stay in ``values`` (the decision rules drop and count them); ``nan_runs`` names them
so the summary can say which runs produced NaN.

:class:`StudySummary` is what ``<out>/<study>/summary.json`` holds, typed: the runner builds the file
through it and the report, the CLI and the trackers read it back with :meth:`StudySummary.load` /
:meth:`StudySummary.from_dict` and use its attributes (findings as :class:`Finding`, tables as
:class:`Table`, ...). A summary read back keeps the keys it was read with, so ``to_dict`` gives the
same dict again: older files lack newer keys (they get defaults and stay absent), unknown keys are
kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dltour.errors import DltourError
from dltour.fileio import read_csv_rows


class _Record:
    """Round trip of a record read from JSON: :meth:`_remember` notes the keys it was read with
    (their order), the known keys it lacked (with the value they took) and unknown keys, so that
    :meth:`to_dict` gives back the dict it was read from, changed only where an attribute was
    changed since. A record built in code (or by ``dataclasses.replace``) writes every known key
    (:meth:`_full`)."""

    _keys: tuple[str, ...] | None = None  # set per instance by _remember

    def _full(self) -> dict:  # every known key, as the runner writes it
        raise NotImplementedError

    def _remember(self, d: dict) -> None:
        full = self._full()
        self._keys = tuple(d)
        self._extra = {k: v for k, v in d.items() if k not in full}  # unknown keys, kept as read
        # known keys read in a form the writer would not give (an older or hand-made file): kept as
        # read while the attribute is unchanged
        self._kept = {k: (d[k], full[k]) for k in d if k in full and not _same(full[k], d[k])}
        self._absent = {k: v for k, v in full.items() if k not in d}  # left out while unchanged

    def to_dict(self) -> dict:
        """The record as JSON-ready data (``summary.json``'s form)."""
        full = self._full()
        if self._keys is None:
            return full
        out = {}
        for k in self._keys:
            if k in self._extra:
                out[k] = self._extra[k]
            elif k in self._kept and _same(self._kept[k][1], full[k]):
                out[k] = self._kept[k][0]
            else:
                out[k] = full[k]
        for k, v in full.items():
            if k not in out and not (k in self._absent and _same(self._absent[k], v)):
                out[k] = v
        return out


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON data (NaN equal to NaN; a tuple equal to the list of its items)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_WHAT = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "an integer",
         float: "a number", type(None): "null"}


def _type_name(v: Any) -> str:
    return _WHAT.get(type(v), type(v).__name__)


def _get(d: dict, key: str, types: tuple, default: Any, where: str, required: bool = False) -> Any:
    """``d[key]`` checked to be one of ``types`` (``default`` when absent); a wrong type (or an
    absent required key) is one :class:`DltourError` line naming ``where`` and the key."""
    if key not in d:
        if required:
            raise DltourError(f"{where}: {key!r} is missing")
        return default
    v = d[key]
    ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
    if not ok:
        what = " or ".join(dict.fromkeys(_WHAT.get(t, t.__name__) for t in types))
        raise DltourError(f"{where}: {key!r} must be {what}, got {_type_name(v)}")
    return v


def _items(d: dict, key: str, where: str, cls) -> list:
    """``d[key]``: a list of objects, each read with ``cls.from_dict``."""
    vs = _get(d, key, (list,), [], where)
    out = []
    for i, v in enumerate(vs):
        if not isinstance(v, dict):
            raise DltourError(f"{where}: {key}[{i}] must be an object, got {_type_name(v)}")
        out.append(cls.from_dict(v, where=f"{where}: {key}[{i}]"))
    return out


@dataclass
class Ref(_Record):
    """One number of the reference report."""

    source: str  # "Table 7", "Figure 13"
    variant: str
    metric: str
    value: float
    note: str = ""

    def _full(self) -> dict:
        return {"source": self.source, "variant": self.variant, "metric": self.metric, "value": self.value,
                "note": self.note}

    @classmethod
    def from_dict(cls, d: dict, where: str = "reference") -> "Ref":
        num = (int, float, type(None))
        r = cls(_get(d, "source", (str,), "", where), _get(d, "variant", (str,), "", where),
                _get(d, "metric", (str,), "", where), _get(d, "value", num, None, where),
                _get(d, "note", (str,), "", where))
        r._remember(d)
        return r


@dataclass
class Finding(_Record):
    """A claim checked over our results, decided by one rule of :mod:`dltour.verdicts`.

    ``ref`` names the reference claim it decides (``"R30"``, see :mod:`dltour.claims`): such a
    finding's ``source`` is ``reference``; a finding with no ``ref`` is one of *our* checks and is
    counted apart. ``verdict`` is one of ``holds`` / ``does not hold`` / ``inconclusive`` /
    ``not checked``; ``evidence`` holds the numbers (n per arm) and ``test`` what decided it.
    Build one from a decision with :meth:`Finding.of`. ``stats`` holds the decision's numbers
    (``p``, ``effect`` with ``effect_ci`` and ``unit``, Hedges' ``g`` with ``g_ci``, ``n_runs``,
    ``margin``, ``margin_source``, ``flip_margin``, ``reasons``) for the report's adjustments and
    ``claims.json``. Read back from a summary (:meth:`from_dict`), ``stats`` is None when the
    summary was written before findings kept their numbers.
    """

    id: str
    claim: str
    verdict: str
    evidence: str
    test: str = ""
    ref: str | None = None
    section: str = ""  # where the reference says it ("§3.2, Table 5")
    stats: dict | None = field(default_factory=dict)

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
                "section": self.section, "stats": None if self.stats is None else dict(self.stats)}

    _full = as_dict

    @classmethod
    def from_dict(cls, d: dict, where: str = "finding") -> "Finding":
        """A finding as a summary holds it, read back as written: not checked again against this
        dltour's verdicts and claims (a results pack may come from another version). A summary
        from before ``verdict`` has it from ``holds``."""
        where = f"{where} ({d['id']})" if isinstance(d.get("id"), str) else where
        f = cls.__new__(cls)  # no __post_init__: read back, not decided here
        f.id = _get(d, "id", (str,), "", where, required=True)
        f.claim = _get(d, "claim", (str,), "", where)
        holds = _get(d, "holds", (bool, type(None)), None, where)
        f.verdict = d["verdict"] if "verdict" in d else \
            {True: "holds", False: "does not hold", None: "not checked"}[holds]
        _get(d, "verdict", (str, type(None)), None, where)
        f.evidence = _get(d, "evidence", (str,), "", where)
        f.test = _get(d, "test", (str, type(None)), "", where)
        f.ref = _get(d, "ref", (str, type(None)), None, where)
        f.section = _get(d, "section", (str,), "", where)
        f.stats = _get(d, "stats", (dict, type(None)), None, where)
        f._remember(d)
        return f


@dataclass(frozen=True)
class Declared:
    """A finding declared once, as data: its ``id``, its ``claim`` (the sentence the report shows),
    the reference claim it decides (``ref``, ``"R30"``; None: one of our own checks) and where the
    reference says it (``section``). The id and the claim may hold ``{name}`` fields, filled when the
    study decides (a margin, an epoch budget, a variant's name, from the configuration). A study
    declares its findings in one table at the top of its findings file (:func:`declare`); its
    decision code names a finding by id and supplies the decision only::

        FINDINGS = declare("T3.2", [
            Declared("mae-lowest-mse", "MAE gives the lowest test MSE of every loss in Table 5", "R30", SEC),
        ])
        s.findings.append(FINDINGS["mae-lowest-mse"].of(compare(...)))
    """

    id: str
    claim: str
    ref: str | None = None
    section: str = ""
    #: how it is decided, as data (:mod:`dltour.rules`); None: the study's decision code supplies the
    #: decision through :meth:`of`
    rule: Any = None
    #: the evidence shown beside the verdict, a template of the runs (:func:`dltour.rules.evidence`)
    evidence: str = ""

    def of(self, decision, *, evidence: str = "", budget=None, scale_note: str = "", **fill: Any) -> Finding:
        """The finding this declaration makes from ``decision`` (see :meth:`Finding.of`), its id and
        claim filled with ``fill``."""
        return Finding.of(self.id.format(**fill), self.claim.format(**fill), decision, ref=self.ref,
                          section=self.section, evidence=evidence, budget=budget, scale_note=scale_note)

    def decide(self, runs, *, budget=None, scale_note: str = "", note: str = "", unless: str | None = None,
               **fill: Any) -> Finding | None:
        """The finding its ``rule`` makes from ``runs`` (:class:`dltour.rules.Runs`), with the
        declared evidence; None when the rule's arms did not all run. ``note``: evidence in the study's
        own words, before the declared evidence (numbers a template of the runs cannot write: counts,
        conditions); ``unless``: why this configuration cannot check the claim (the data is not the
        claim's): then the finding is "not checked", saying so, and the rule is not asked."""
        from dltour import rules
        from dltour.verdicts import not_checked

        if self.rule is None:
            raise TypeError(f"finding {self.id!r} declares no rule: its study decides it with .of(decision)")
        if not self.rule.applies(runs):
            return None
        decision = not_checked(unless) if unless else self.rule.decide(runs)
        ev = "; ".join(e for e in (note, rules.evidence(self.evidence, runs)) if e)
        return self.of(decision, evidence=ev, budget=budget, scale_note=scale_note, **fill)

    def matches(self, finding_id: str) -> bool:
        """Whether ``finding_id`` is one this declaration makes (its ``{name}`` fields read as any
        run of letters, digits, dots and hyphens)."""
        import re

        return re.fullmatch(_id_pattern(self.id), finding_id) is not None


def _id_pattern(template: str) -> str:
    import re

    out, last = [], 0
    for m in re.finditer(r"\{[^{}]*\}", template):
        out += [re.escape(template[last:m.start()]), r"[\w.\-]+"]
        last = m.end()
    return "".join(out + [re.escape(template[last:])])


#: every declared finding, by task: filled by :func:`declare` as each findings file is imported
DECLARED: dict[str, dict[str, Declared]] = {}


def declare(task: str, findings: list[Declared], *, borrowed: tuple[str, ...] = ()) -> dict[str, Declared]:
    """A study's findings declared as data, by id (the table its decision code reads), checked once
    at import: the ids are unique, and each ``ref`` names a claim of the reference's ``task``, or
    one of ``borrowed``: claims of another task that this study's runs decide, named here on purpose
    (T4.1's R37 is about the autoencoders of T3.1)."""
    from dltour.claims import CLAIMS

    table: dict[str, Declared] = {}
    for d in findings:
        if d.id in table:
            raise ValueError(f"{task}: finding {d.id!r} declared twice")
        if d.ref is not None and (d.ref not in CLAIMS or (CLAIMS[d.ref].task != task and d.ref not in borrowed)):
            raise ValueError(f"{task}: finding {d.id!r} names {d.ref!r}, which is not a claim of {task}")
        table[d.id] = d
    DECLARED.setdefault(task, {}).update(table)
    return table


def decide_declared(table: dict[str, Declared], runs) -> list[Finding]:
    """The findings of every declaration of ``table`` that has a rule, in the table's order, from
    ``runs`` (:class:`dltour.rules.Runs`); a rule whose arms did not all run makes none."""
    out = [d.decide(runs) for d in table.values() if d.rule is not None]
    return [f for f in out if f is not None]


def undeclared(task: str, finding_ids) -> list[str]:
    """The ids among ``finding_ids`` that no declaration of ``task`` makes."""
    decls = DECLARED.get(task, {}).values()
    return [f for f in finding_ids if not any(d.matches(f) for d in decls)]


@dataclass
class Table(_Record):
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

    _full = as_dict

    @classmethod
    def from_dict(cls, d: dict, where: str = "table") -> "Table":
        rows = _get(d, "rows", (list,), [], where)
        bold = _get(d, "bold", (list,), [], where)
        if not all(isinstance(r, list) for r in rows) or not all(isinstance(b, list) and len(b) == 2 for b in bold):
            raise DltourError(f"{where}: 'rows' must be a list of lists and 'bold' a list of [row, column] pairs")
        t = cls(_get(d, "title", (str,), "", where), list(_get(d, "header", (list,), [], where)),
                [list(r) for r in rows], [tuple(b) for b in bold], _get(d, "note", (str,), "", where))
        t._remember(d)
        return t


def _cell(c: Any) -> str:
    if isinstance(c, float):
        from dltour.verdicts import fmt

        return fmt(c)
    return str(c)


@dataclass
class Comparison(_Record):
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

    _full = as_dict

    @classmethod
    def from_dict(cls, d: dict, where: str = "comparison") -> "Comparison":
        c = cls(_get(d, "data", (bool,), True, where, required=True),
                _get(d, "budget", (bool,), True, where, required=True), _get(d, "why", (str,), "", where),
                _get(d, "about", (bool,), True, where), _get(d, "about_why", (str,), "", where))
        c._remember(d)
        return c

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
class StudySummary(_Record):
    """``<out>/<study>/summary.json``, typed: what :func:`dltour.runner.driver.summarize_study`
    writes and the report, the CLI and the trackers read. Every key but ``study`` may be absent
    (older summaries lack the newer ones: ``study_version``, ``dltour_commit``, ``per_run``,
    ``comparison.about``, ``stats`` of a finding, ...): an absent key takes its default here and
    stays absent in :meth:`to_dict`; unknown keys are kept. Read one with :meth:`load` (a file) or
    :meth:`from_dict`; a malformed one is one :class:`DltourError` line."""

    study: str
    study_version: int | None = None  # the study's ``version`` that computed it
    dltour_commit: str | None = None  # the dltour commit that wrote it
    task: str = ""
    title: str = ""
    profile: str = ""
    comparable: bool = True  # comparison.ok (older summaries have only this)
    comparison: Comparison | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: variant -> metric -> {mean, std, ci95, n, nan} over the runs (and the study's baselines)
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: the raw values behind ``metrics``: variant -> metric -> {seed (or "#i"): value or None}
    per_run: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    variant_order: list[str] = field(default_factory=list)
    headline_metrics: list[str] | None = field(default_factory=list)
    reference: list[Ref] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # file names in the study's folder
    tables: list[Table] = field(default_factory=list)
    nan_runs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0  # training seconds of its runs, from the ledger
    devices: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)

    def _full(self) -> dict:
        return {
            "study": self.study, "study_version": self.study_version, "dltour_commit": self.dltour_commit,
            "task": self.task, "title": self.title, "profile": self.profile, "comparable": self.comparable,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "config": self.config, "metrics": self.metrics, "per_run": self.per_run,
            "variant_order": self.variant_order, "headline_metrics": self.headline_metrics,
            "reference": [r.to_dict() for r in self.reference],
            "findings": [f.to_dict() for f in self.findings],
            "figures": self.figures, "tables": [t.to_dict() for t in self.tables], "nan_runs": self.nan_runs,
            "notes": self.notes, "runs": self.runs, "seconds": self.seconds, "devices": self.devices,
            "precisions": self.precisions,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "summary") -> "StudySummary":
        """A summary from its JSON data; what is not a summary is one :class:`DltourError` line
        naming ``where`` (e.g. the file) and the key."""
        if not isinstance(d, dict):
            raise DltourError(f"{where}: a summary must be a JSON object, got {_type_name(d)}")
        lists = {k: list(_get(d, k, (list,), [], where)) for k in
                 ("variant_order", "figures", "nan_runs", "notes", "devices", "precisions")}
        cmp = _get(d, "comparison", (dict, type(None)), None, where)
        s = cls(study=_get(d, "study", (str,), "", where, required=True),
                study_version=_get(d, "study_version", (int, type(None)), None, where),
                dltour_commit=_get(d, "dltour_commit", (str, type(None)), None, where),
                task=_get(d, "task", (str,), "", where), title=_get(d, "title", (str,), "", where),
                profile=_get(d, "profile", (str,), "", where),
                comparable=_get(d, "comparable", (bool,), True, where),
                comparison=None if cmp is None else Comparison.from_dict(cmp, f"{where}: comparison"),
                config=_get(d, "config", (dict,), {}, where), metrics=_get(d, "metrics", (dict,), {}, where),
                per_run=_get(d, "per_run", (dict,), {}, where),
                headline_metrics=_get(d, "headline_metrics", (list, type(None)), [], where),
                reference=_items(d, "reference", where, Ref), findings=_items(d, "findings", where, Finding),
                tables=_items(d, "tables", where, Table), runs=_get(d, "runs", (int,), 0, where),
                seconds=_get(d, "seconds", (int, float), 0.0, where), **lists)
        s._remember(d)
        return s

    @classmethod
    def load(cls, path: str | Path) -> "StudySummary":
        """``path`` (a ``summary.json``) read back; unreadable, not JSON or not a summary: one
        :class:`DltourError` line naming the file."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DltourError(f"summary {path} cannot be read: {e}") from None
        return cls.from_dict(doc, where=f"summary {path}")

    @classmethod
    def of(cls, doc: "StudySummary | dict") -> "StudySummary":
        """``doc`` as a :class:`StudySummary` (a dict, as :func:`dltour.run` returns, is read)."""
        return doc if isinstance(doc, cls) else cls.from_dict(doc)


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
