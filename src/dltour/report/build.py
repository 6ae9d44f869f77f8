"""The report: a header (profile, device, versions, commit, date, time, results pack), the
reference's claims decided at the reference's data and budget (this run's reference-scale
summaries and the results pack's), then at reduced scale, then the demo's, labelled as such, with
Benjamini-Hochberg adjusted p-values per scale; the claims side by side; then per summary its
figures, ``metric | reference | this run (mean +- 95% CI, n) | delta``, all metrics, extra tables
and its findings. ``report/claims.json`` holds every finding of the reference's claims as data.

Scale of a summary (from its ``comparison`` and profile), three of them, each its own family for
Benjamini-Hochberg and its own line of counts:

- ``reference``: both the data and the budget are the reference's (*reference scale*);
- ``reduced``: a ``full``-profile summary below that, on the reference's data with a smaller
  budget (*reduced scale*) or on a stand-in dataset (*analogue on other data*, e.g. CIFAR-10 for
  CIFAR-100);
- ``demo``: any other profile (*demo analogue*, or *demo on the reference's data* when the demo
  reads the reference's dataset with a smaller budget).

Only the first is a verdict on the reference at its scale; a claim's row shows the largest scale
that decides it and the others' verdicts beside it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import html
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import jinja2
import markupsafe

from dltour.runner.ledger import Ledger
from dltour.gitinfo import git_commit
from dltour.runner.execute import versions
from dltour.report.pack import current_version, packs_for
from dltour.claims import task_key as _task_key
from dltour.fileio import atomic_write_bytes
from dltour.summary import Comparison, Finding, StudySummary, Table
from dltour.verdicts import finite_or_none, fmt_effect, fmt_pm
from dltour.verdicts import fmt as fmt_num

TEMPLATE = Path(__file__).with_name("template.html")


def fmt_stat(s: dict | None) -> str:
    """``mean ± ci95 (n=3)``, rounded by the uncertainty (the half-width to 2 significant digits,
    the mean to the same decimal: :func:`dltour.verdicts.fmt_pm`); with n = 1 or a zero spread (a
    deterministic value) no ±; NaN runs counted."""
    if not s or s.get("mean") is None:
        nan = (s or {}).get("nan") or 0
        return f"n/a ({nan} NaN run(s))" if nan else "n/a"
    ci = s.get("ci95") if s.get("n", 0) > 1 else None
    txt = fmt_pm(s["mean"], ci)
    txt += f" (n={s['n']}"
    if s.get("nan"):
        txt += f", {s['nan']} NaN"
    return txt + ")"


def _summary(doc: StudySummary | dict) -> StudySummary:
    """A summary as :class:`StudySummary` (a dict, e.g. a hand-made one, is read as one)."""
    return StudySummary.of(doc)


def _comparison(doc: StudySummary) -> Comparison:
    """The summary's comparison; a summary from before it has ``comparable`` only (the data)."""
    return doc.comparison or Comparison(doc.comparable, True, "")


def comparison_text(doc: StudySummary | dict) -> str | None:
    """None when the study's results can be compared with the reference's numbers, else which of
    data and budget differs."""
    cmp = _comparison(_summary(doc))
    if cmp.data and cmp.budget:
        return None
    parts = []
    if not cmp.data:
        parts.append("the data differs from the reference's")
    if not cmp.budget:
        parts.append("the training budget differs from the reference's")
    txt = " and ".join(parts)
    return txt + (f" ({cmp.why})" if cmp.why else "")


def reference_rows(doc: StudySummary | dict) -> list[dict]:
    doc = _summary(doc)
    rows = []
    differs = comparison_text(doc)
    for ref in doc.reference:
        ours = doc.metrics.get(ref.variant, {}).get(ref.metric)
        mean = ours.get("mean") if ours else None
        if differs:
            delta = "not compared: " + differs.split(" (")[0]
        elif mean is None:
            delta = "not run in this profile"
        else:
            delta = f"{mean - ref.value:+.4g}"
        rows.append({"source": ref.source, "variant": ref.variant, "metric": ref.metric,
                     "reference": fmt_num(ref.value), "ours": fmt_stat(ours), "delta": delta,
                     "note": ref.note})
    return rows


def metric_table(doc: StudySummary | dict) -> tuple[list[str], list[list[str]]]:
    doc = _summary(doc)
    metrics = doc.metrics
    keys = [k for k in doc.headline_metrics or [] if any(k in m for m in metrics.values())]
    keys += sorted({k for m in metrics.values() for k in m} - set(keys))
    order = [v for v in doc.variant_order if v in metrics] or list(metrics)
    rows = [[v] + [fmt_stat(metrics[v].get(k)) if k in metrics[v] else "" for k in keys] for v in order]
    return ["variant"] + keys, rows


def md_table(header: list[str], rows: list[list[str]], bold: list | None = None) -> str:
    esc = lambda c: _e(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    strong = {tuple(b) for b in bold or []}
    cell = lambda i, j, c: f"**{esc(c)}**" if (i, j) in strong and str(c) else esc(c)  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(i, j, c) for j, c in enumerate(r)) + " |" for i, r in enumerate(rows)]
    return "\n".join(lines)


def combine(verdicts: list[str]) -> str:
    """One verdict for a claim checked by several findings: it holds when all hold, does not hold
    when any does not, is not checked when none decided anything, and is inconclusive otherwise."""
    if verdicts and all(v == "not applicable" for v in verdicts):
        return "not applicable"
    verdicts = [v for v in verdicts if v != "not applicable"]
    if not verdicts or all(v == "not checked" for v in verdicts):
        return "not checked"
    if "does not hold" in verdicts:
        return "does not hold"
    if all(v == "holds" for v in verdicts):
        return "holds"
    return "inconclusive"


def _verdict(f: Finding) -> str:
    """A finding's verdict (one read from a summary from before ``verdict`` has it from ``holds``)."""
    return f.verdict


@dataclass(eq=False)
class Shown(Finding):
    """A finding as the report shows it: ``verdict`` after Benjamini-Hochberg,
    ``verdict_unadjusted`` the study's, and ``rpt`` the report's numbers (scale, p, adjusted p,
    display text...). Not checked again (:meth:`Finding.from_dict` reads findings as written)."""

    verdict_unadjusted: str | None = None
    rpt: dict = field(default_factory=dict)

    def __post_init__(self):
        pass

    @classmethod
    def of(cls, f: Finding, **extra) -> "Shown":
        return cls(**{k.name: getattr(f, k.name) for k in fields(Finding)}, **extra)


def _with_section(f: Finding, section: str) -> Finding:
    """``f`` with another ``section``, not checked again (it may come from a results pack)."""
    g = copy.copy(f)
    g.section = section
    return g


def claim_rows(doc: StudySummary | dict | None, task: str, others: list[StudySummary | dict] = ()) -> list[dict]:
    """Every claim of the reference for ``task`` with its findings and combined verdict. A claim
    may be decided by another study's runs (R37, a T4.1 claim, needs T3.1's code-size sweep):
    findings of ``others`` that name it count too, marked with their study."""
    from dltour.claims import for_task

    findings = list(_summary(doc).findings if doc is not None else [])
    for o in others:
        if o is not doc:
            o = _summary(o)
            findings += [_with_section(f, f"from {o.study}" + (f", {f.section}" if f.section else ""))
                         for f in o.findings if f.ref and f.ref not in
                         {c.id for c in for_task(o.task)}]
    rows = []
    for c in for_task(task):
        fs = [f for f in findings if f.ref == c.id]
        verdict = combine([_verdict(f) for f in fs]) if c.testable else "explanation (no verdict)"
        rows.append({"id": c.id, "kind": c.kind, "text": c.text, "verdict": verdict, "findings": fs})
    return rows


def claim_counts(rows: list[dict]) -> dict[str, int]:
    counts = {"testable": 0, "holds": 0, "does not hold": 0, "inconclusive": 0, "not checked": 0,
              "not applicable": 0}
    for r in rows:
        if r["kind"] == "X":
            continue
        if r["verdict"] == "not applicable":  # shown, never counted among the testable ones
            counts["not applicable"] += 1
            continue
        counts["testable"] += 1
        counts[r["verdict"]] += 1
    return counts


def counts_line(c: dict[str, int]) -> str:
    na = c.get("not applicable", 0)
    return (f"{c['testable']} testable — holds {c['holds']}, does not hold {c['does not hold']}, "
            f"inconclusive {c['inconclusive']}, not checked {c['not checked']}"
            + (f"; {na} not applicable (the data are not what the claim is about; not counted)" if na else ""))


def ours_counts(findings: list[Finding]) -> dict[str, int]:
    c = {"holds": 0, "does not hold": 0, "inconclusive": 0, "not checked": 0, "not applicable": 0}
    for f in findings:
        if not f.ref:
            c[_verdict(f)] += 1
    return c


def _task_of(doc: StudySummary) -> tuple:
    """Sort key of a summary by its task (one without a task last)."""
    return _task_key(doc.task or "T99")


def load_summaries(out_dir: Path) -> list[StudySummary]:
    """This run's summaries (``<out>/<study>/summary.json``) by task; an unreadable file is passed
    over, one that is not a summary stops the report with one line."""
    docs = []
    for p in sorted(out_dir.glob("*/summary.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        docs.append(StudySummary.from_dict(doc, where=f"summary {p}"))

    return sorted(docs, key=_task_of)


def _figure_path(out_dir: Path, doc: StudySummary, f: str, base: Path | None = None) -> Path:
    """A summary's figure: a file name in the study's folder (``<out>/<study>/``, or ``base``, the
    folder the summary was read from). Older summaries stored the path the run wrote (relative to
    the working directory then, or absolute): their file name is looked up in the study's folder.
    A listed figure that is not there stops the report with one line naming the file."""
    from dltour.errors import DltourError

    folder = base if base is not None else out_dir / doc.study
    p = folder / Path(f).name
    if p.suffix.lower() != ".png":
        raise DltourError(f"{doc.study}'s summary lists {f!r} as a figure: only PNG files in the study's folder are "
                          "embedded; refusing it (was the summary edited by hand or planted?)")
    if p.is_file() and not (p.resolve().is_relative_to(folder.resolve()) and _is_png(p)):
        raise DltourError(f"the figure {str(p)!r} of {doc.study} is a link out of its folder or not a PNG image; "
                          "refusing to embed it")
    if not p.is_file():
        fix = (f"rerun `dltour run {doc.study}` with the same --out to write it again" if base is None else
               "the results pack entry is incomplete: restore the file beside its summary.json")
        raise DltourError(f"the report cannot find the figure {str(p)!r} that {doc.study}'s summary lists; {fix}")
    return p


def _is_png(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def _precision(row: dict) -> str:
    """``fp32`` or ``bf16 autocast`` (ledgers from before ``--precision`` have the dtype only)."""
    p = row.get("precision")
    if p:
        return "fp32" if p == "fp32" else f"{p} autocast"
    return {"float32": "fp32"}.get(row.get("dtype") or "", row.get("dtype") or "?")


ALPHA = 0.05
REFERENCE, REDUCED, DEMO = "reference", "reduced", "demo"
SCALES = (REFERENCE, REDUCED, DEMO)  # largest first
SCALE_TITLE = {REFERENCE: "at the reference's data and budget",
               REDUCED: "at reduced scale (the full profile with a smaller budget or a stand-in dataset)",
               DEMO: "on the demo's data and budget"}
DECIDED = ("holds", "does not hold", "inconclusive")


def _e(text) -> str:
    """Text from a summary, safe in Markdown that a viewer renders as HTML (``<``, ``>``, ``&``)."""
    return html.escape(str(text), quote=False)


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 1e-4" if p < 1e-4 else f"{p:.3g}"


def scale_of(doc: StudySummary | dict) -> dict:
    """The scale a summary decides its findings at, from its ``comparison`` and profile: ``scale``
    is ``reference`` (the reference's data and budget), ``reduced`` (the ``full`` profile below that)
    or ``demo`` (any other profile); ``label`` is ``reference scale``, ``reduced scale`` (full profile,
    the reference's data, a smaller budget), ``analogue on other data`` (full profile, a stand-in
    dataset), ``demo on the reference's data`` or ``demo analogue``."""
    summary = _summary(doc)
    cmp = _comparison(summary)
    why = cmp.why or ""
    if cmp.data and cmp.budget:
        return {"scale": REFERENCE, "label": "reference scale", "why": why,
                "data": "the reference's", "budget": "the reference's"}
    if summary.profile == "full":
        scale, label = REDUCED, "reduced scale" if cmp.data else "analogue on other data"
    else:
        scale, label = DEMO, "demo on the reference's data" if cmp.data else "demo analogue"
    return {"scale": scale, "label": label, "why": why,
            "data": "the reference's" if cmp.data else "not the reference's",
            "budget": "the reference's" if cmp.budget else "less than the reference's"}


@dataclass
class Source:
    """One summary in the report: this run's (``origin = "run"``) or a results pack entry's."""

    doc: StudySummary  # the summary; after :func:`annotate` its findings are :class:`Shown`
    origin: str
    base: Path  # the folder its figures are in
    where: str  # "this run: <out>/<study>/summary.json" or "results pack: <folder>, commit X, study version V"
    scale: dict
    anchor: str
    entry: object = None  # the PackEntry
    version: int | None = None
    version_now: int | None = None
    rules: str = ""  # the commit whose rules decided findings that carry no per-run statistics

    @property
    def old_version(self) -> bool:
        return self.version is not None and self.version_now is not None and self.version != self.version_now

    @property
    def version_note(self) -> str:
        if not self.old_version:
            return ""
        return (f"study version {self.version} at commit {self.entry.commit if self.entry else self.rules}; "
                f"the current code is version {self.version_now}")


def gather(out_dir: Path, docs: list[StudySummary], packs: list) -> tuple[list[Source], list[dict]]:
    """This run's summaries, then the default entries of the packs, one summary per study and scale:
    this run first, then the packs from the last given to the first (``--results`` before the
    project's own). Returns the sources and a row per pack entry saying whether it is included."""
    sources: list[Source] = []
    taken: dict[tuple[str, str], str] = {}
    for d in docs:
        sc = scale_of(d)
        sources.append(Source(d, "run", out_dir / d.study, f"this run: {out_dir / d.study / 'summary.json'}",
                              sc, d.study, version=d.study_version,
                              version_now=current_version(d.study),
                              rules=d.dltour_commit or "unknown (the summary does not say)"))
        taken[(d.study, sc["scale"])] = f"this run's {sc['label']} summary"
    status: dict[int, str] = {}
    for pack in reversed(packs):
        for e in pack.entries:
            if not e.default:
                status[id(e)] = "not included (not the default entry for its study)"
                continue
            doc = e.study_summary()
            sc = scale_of(doc)
            key = (e.study, sc["scale"])
            if key in taken:
                status[id(e)] = f"not included: superseded by {taken[key]}"
                continue
            taken[key] = f"the results pack entry {e.where}"
            status[id(e)] = f"included ({sc['label']})"
            version = e.study_version if doc.study_version is None else doc.study_version
            sources.append(Source(doc, "pack", e.folder,
                                  f"results pack: {e.where}, commit {e.commit}, study version {version}", sc,
                                  f"{e.study}-pack" + ("" if sc["scale"] == REFERENCE else f"-{sc['scale']}"),
                                  e, version, e.current_version(), e.commit))
    rows = [{"entry": e, "status": status.get(id(e), ""), "pack": p} for p in packs for e in p.entries]
    sources.sort(key=lambda s: (_task_of(s.doc), SCALES.index(s.scale["scale"]), s.origin != "run"))
    return sources, rows


def annotate(sources: list[Source]) -> None:
    """Give every finding its scale, p, Benjamini-Hochberg adjusted p (over the reference-claim
    findings with a p of one scale) and its verdict after the adjustment (``rpt``); ``verdict``
    becomes the adjusted one, ``verdict_unadjusted`` keeps the study's.

    A "holds" or "does not hold" resting on p < 0.05 whose adjusted p is not becomes
    inconclusive (an equivalence carries the p that decided it: its TOST p when it holds, the test
    against the nearer margin bound when it does not); the adjustment never turns an inconclusive
    one decided. Findings without a p (deterministic quantities, summaries without per-run
    statistics) keep their verdict."""
    from statsmodels.stats.multitest import multipletests

    for s in sources:
        fs = []
        for f in s.doc.findings:
            has = isinstance(f.stats, dict)
            st = f.stats if has else {}
            v0 = _verdict(f)
            fs.append(Shown.of(f, verdict_unadjusted=v0,
                               rpt={"p": finite_or_none(st.get("p")), "p_adj": None, "bh": False, "has_stats": has,
                                    "scale": s.scale["scale"], "scale_label": s.scale["label"], "source": s.where,
                                    "rules": "" if has else s.rules, "origin": s.origin,
                                    "version_note": s.version_note}))
        s.doc = copy.copy(s.doc)  # the summary read stays as it was
        s.doc.findings = fs
    for scale in SCALES:
        fam = [f for s in sources if s.scale["scale"] == scale for f in s.doc.findings
               if f.ref and f.rpt["p"] is not None]
        if not fam:
            continue
        adj = multipletests([f.rpt["p"] for f in fam], method="fdr_bh")[1]
        for f, pa in zip(fam, adj):
            r = f.rpt
            r["p_adj"] = float(pa)
            if f.verdict_unadjusted in ("holds", "does not hold") and r["p"] < ALPHA <= pa:
                f.verdict, r["bh"] = "inconclusive", True  # (and f.holds is None)
    for s in sources:
        for f in s.doc.findings:
            r = f.rpt
            r["display"] = (f"inconclusive after BH (unadjusted: {f.verdict_unadjusted})" if r["bh"]
                            else f.verdict)
            r["cls"] = _cls(f.verdict)
            r["numbers"] = numbers_text(f)


def _cls(v: str) -> str:
    return {"holds": "holds", "does not hold": "fails", "inconclusive": "inc"}.get(v, "nc")


def numbers_text(f: Shown) -> str:
    """The finding's p (and BH-adjusted p), effect with its CI, Hedges' g, runs and margin."""
    r = f.rpt
    scope = "the pack" if r["origin"] == "pack" else "the summary"
    if not r["has_stats"]:
        return f"decided under the rules of commit {r['rules']} (per-run values not in {scope})"
    st = f.stats or {}
    parts = []
    if r["p"] is not None:
        parts.append(f"p = {_fmt_p(r['p'])}" + (f", BH-adjusted p = {_fmt_p(r['p_adj'])}" if r["p_adj"] is not None
                                                 else ""))
    elif f.verdict_unadjusted in ("holds", "does not hold"):
        parts.append("no p-value (decided without a test of sampling variation)")
    else:
        parts.append("no p-value")
    unit = f" {st['unit']}" if st.get("unit") else ""
    for label, key, tail in (("effect", "effect", unit), ("Hedges' g", "g", "")):
        if finite_or_none(st.get(key)) is not None:
            t = f"{label} {fmt_num(finite_or_none(st[key]))}{tail}"
            ci = st.get(f"{key}_ci")
            if ci and None not in (finite_or_none(ci[0]), finite_or_none(ci[1])):
                t += f" (95% CI {fmt_num(finite_or_none(ci[0]))} to {fmt_num(finite_or_none(ci[1]))})"
            parts.append(t)
    if st.get("n_runs") is not None:
        parts.append(f"{st['n_runs']} independent runs")
    if finite_or_none(st.get("margin")) is not None:
        t = f"margin ±{fmt_num(finite_or_none(st['margin']))}{unit}"
        if st.get("margin_source"):
            t += f" ({st['margin_source']})"
        if finite_or_none(st.get("flip_margin")) is not None:
            t += f", the verdict flips at ±{fmt_num(finite_or_none(st['flip_margin']))}"
        parts.append(t)
    for reason in st.get("reasons") or []:
        parts.append(str(reason))
    if st.get("scale_note"):
        parts.append(str(st["scale_note"]))
    return "; ".join(parts)


def _tasks() -> list[str]:
    from dltour.claims import CLAIMS

    return sorted({c.task for c in CLAIMS.values()}, key=_task_key)


def scale_rows(sources: list[Source], scale: str) -> dict[str, dict]:
    """R-number -> its claim row (claim_rows) at one scale, over the summaries of that scale."""
    docs = [s.doc for s in sources if s.scale["scale"] == scale]
    by_task = {d.task: d for d in docs}
    return {r["id"]: r for t in _tasks() for r in claim_rows(by_task.get(t), t, docs)}


def claim_cell(row: dict) -> dict:
    """A claim's verdict at one scale: text, class and qualifiers (BH, older study version,
    rules of an earlier commit); ``—`` when no finding decides it at that scale."""
    if row["kind"] == "X":
        return {"text": "explanation (no verdict)", "cls": "nc", "decided": False}
    fs = row["findings"]
    if not fs:
        return {"text": "—", "cls": "nc", "decided": False}
    v = row["verdict"]
    v0 = combine([getattr(f, "verdict_unadjusted", _verdict(f)) for f in fs])
    text = f"{v} after BH (unadjusted: {v0})" if v != v0 else v
    notes = sorted({f.rpt["version_note"] for f in fs if getattr(f, "rpt", {}).get("version_note")})
    rules = sorted({f.rpt["rules"] for f in fs if getattr(f, "rpt", None) and not f.rpt["has_stats"]})
    notes += [f"decided under the rules of commit {r}" for r in rules]
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return {"text": text, "cls": _cls(v), "decided": v in DECIDED, "verdict": v, "unadjusted": v0,
            "legacy": bool(rules), "old": any("study version" in n for n in notes)}


def _effect_line(f: Finding) -> dict:
    """One finding's effect for the claims table: its 95% CI in the metric's units, and n."""
    st = f.stats if isinstance(f.stats, dict) else {}
    if not st:
        return {"id": f.id, "text": "— (an earlier commit's rules: per-run values not kept)", "n": ""}
    eff = finite_or_none(st.get("effect"))
    ci = st.get("effect_ci")
    ci = (finite_or_none(ci[0]), finite_or_none(ci[1])) if ci else None
    text = fmt_effect(eff, ci if ci and None not in ci else None, st.get("unit") or "") if eff is not None else "—"
    return {"id": f.id, "text": text, "n": "" if st.get("n_runs") is None else str(st["n_runs"])}


def claims_overview(rows: dict[str, dict[str, dict]]) -> list[dict]:
    """One row per reference claim for the report's main table: the verdict at the largest scale
    that decides it (the reference's data and budget, else reduced scale, else the demo's; a scale
    whose runs could not check the claim, e.g. without the ImageNet variants, does not decide it),
    each finding's effect with its 95% CI and n, the scale, the other scales' verdicts beside it
    (``also``: "reduced: holds; demo: does not hold", or "reduced: not checked"), and the findings
    of every scale for its details. ``rows``: scale -> :func:`scale_rows`."""
    from dltour.claims import CLAIMS

    out = []
    for cid, c in CLAIMS.items():
        at = [(sc, rows[sc][cid]) for sc in SCALES if rows[sc][cid]["findings"]]
        if at:
            cells = {sc: claim_cell(r) for sc, r in at}
            top, row = next(((sc, r) for sc, r in at if cells[sc]["decided"]), at[0])
            cell = cells[top]
            if top == REFERENCE:
                scale = "reference scale"
            else:
                labels = sorted({f.rpt["scale_label"] for f in row["findings"] if getattr(f, "rpt", None)})
                scale = " / ".join(labels) or ("demo analogue" if top == DEMO else "reduced scale")
            also = "; ".join(f"{sc}: {cells[sc]['verdict']}" for sc, _ in at
                             if sc != top and cells[sc].get("verdict"))
        else:
            row, scale, also = rows[REFERENCE][cid], "—", ""
            cell = claim_cell(row)
        verdict = cell.get("verdict") or ("explanation" if c.kind == "X" else "not decided")
        qual = cell["text"][len(verdict):].strip() if cell["text"].startswith(verdict) else ""
        out.append({"id": cid, "task": c.task, "kind": c.kind, "text": c.text, "verdict": verdict,
                    "cls": cell["cls"], "qualifier": qual, "scale": scale, "also": also,
                    "effects": [_effect_line(f) for f in row["findings"]],
                    "findings": [f for sc in SCALES for f in rows[sc][cid]["findings"]]})
    return out


def forest_figures(sources: list[Source], report_dir: Path) -> list[dict]:
    """The forest plots (reference scale, reduced scale, the demo's) written into ``report_dir``."""
    from dltour.report.forest import forest_plot, forest_rows

    figs = []
    for scale, title, name in ((REFERENCE, SCALE_TITLE[REFERENCE], "forest_reference.png"),
                               (REDUCED, SCALE_TITLE[REDUCED] + " (not a verdict at the reference's scale)",
                                "forest_reduced.png"),
                               (DEMO, SCALE_TITLE[DEMO] + " (not a verdict on the reference)", "forest_demo.png")):
        fs = [f for s in sources if s.scale["scale"] == scale for f in s.doc.findings if f.ref]
        rows, left = forest_rows(fs)
        stale = report_dir / name
        made = forest_plot(rows, report_dir, name, f"Reference claims' effects {title}")
        if made is None:
            stale.unlink(missing_ok=True)
            continue
        figs.append({"path": report_dir / made, "name": made, "title": title, "shown": len(rows), "left": left})
    return figs


def decided_counts(rows: dict[str, dict]) -> dict[str, int]:
    """Claims decided at one scale, by verdict. A claim resting on a finding decided under the rules
    of an earlier commit (a pack summary without per-run values: not re-decided, no adjusted p) is
    counted apart (``legacy_*``), never mixed into the current rules' counts."""
    c = {"decided": 0, "holds": 0, "does not hold": 0, "inconclusive": 0, "bh": 0, "legacy": 0, "old": 0,
         "legacy_holds": 0, "legacy_does not hold": 0, "legacy_inconclusive": 0}
    for r in rows.values():
        cell = claim_cell(r)
        if r["kind"] == "X" or not cell["decided"]:
            continue
        if cell["legacy"]:
            c["legacy"] += 1
            c["legacy_" + cell["verdict"]] += 1
            continue
        c["decided"] += 1
        c[cell["verdict"]] += 1
        c["bh"] += cell["verdict"] != cell["unadjusted"]
        c["old"] += cell["old"]
    return c


def _decided_text(c: dict[str, int]) -> str:
    """``N decided — holds a, does not hold b, inconclusive c`` of :func:`decided_counts`, ``—`` for none."""
    if not c["decided"]:
        return "—"
    return (f"{c['decided']} decided — holds {c['holds']}, does not hold {c['does not hold']}, "
            f"inconclusive {c['inconclusive']}")


def reference_headline(c: dict[str, int], scale: str = REFERENCE) -> str:
    txt = (f"Reference claims {SCALE_TITLE[scale]}: {c['decided']} decided under the current rules — "
           f"holds {c['holds']}, does not hold {c['does not hold']}, inconclusive {c['inconclusive']} (after "
           "Benjamini–Hochberg)")
    if c.get("legacy"):
        txt += (f"; {c['legacy']} more decided under an earlier commit's rules and not re-decided (holds "
                f"{c['legacy_holds']}, does not hold {c['legacy_does not hold']}, inconclusive "
                f"{c['legacy_inconclusive']}), not counted here")
    return txt


def headline_notes(c: dict[str, int], sources: list[Source]) -> list[str]:
    out = []
    ref = [s for s in sources if s.scale["scale"] == REFERENCE]
    if ref:
        out.append("From: " + "; ".join(s.where for s in ref) + ".")
    else:
        out.append("No summary in this report is at the reference's data and budget.")
    if c["bh"]:
        out.append(f"{c['bh']} claim(s) held or failed at p < 0.05 but not after the Benjamini–Hochberg adjustment: "
                   "counted inconclusive.")
    if c["legacy"]:
        out.append(f"{c['legacy']} claim(s) rest only on findings decided under the rules of an earlier commit (named "
                   "beside each; per-run values not in their summaries, so they cannot be re-decided without "
                   "rerunning): no adjusted p, and not in the counts above.")
    if c["old"]:
        out.append(f"{c['old']} claim(s) come from a summary of an older study version (named beside each).")
    return out


def _ours(sources: list[Source], task: str) -> str:
    parts = []
    for s in sources:
        if s.doc.task != task:
            continue
        o = ours_counts(s.doc.findings)
        txt = ", ".join(f"{k} {v}" for k, v in o.items() if v)
        if txt:
            parts.append(f"{s.scale['label']}: {txt}")
    return "; ".join(parts) or "none"


def claims_json(sources: list[Source], packs_note: str, packs: list) -> dict:
    """report/claims.json: one entry per finding of the reference's claims, at any scale."""
    from dltour.claims import CLAIMS

    entries = []
    for s in sources:
        for f in s.doc.findings:
            ref = f.ref
            if not ref:
                continue
            c = CLAIMS.get(ref)
            st = f.stats if isinstance(f.stats, dict) else {}
            r = f.rpt
            entry_data = s.entry.data if s.entry is not None else s.scale["data"]
            entry_budget = s.entry.budget if s.entry is not None else s.scale["budget"]

            def pair(v):
                return [finite_or_none(v[0]), finite_or_none(v[1])] if v and len(v) == 2 else None

            entries.append({
                "ref": ref, "task": c.task if c else s.doc.task, "claim": c.text if c else "",
                "kind": c.kind if c else "", "finding": f.id, "finding_claim": f.claim,
                "study": s.doc.study, "section": f.section,
                "scale": s.scale["scale"], "scale_label": s.scale["label"], "data": entry_data, "budget": entry_budget,
                "why": s.scale["why"], "profile": s.doc.profile,
                "verdict": f.verdict, "verdict_unadjusted": f.verdict_unadjusted,
                "p": r["p"], "p_adjusted": r["p_adj"],
                "effect": {"value": finite_or_none(st.get("effect")), "ci": pair(st.get("effect_ci")),
                           "unit": st.get("unit", ""),
                           "g": finite_or_none(st.get("g")), "g_ci": pair(st.get("g_ci"))},
                "n_runs": st.get("n_runs"), "margin": finite_or_none(st.get("margin")),
                "margin_source": st.get("margin_source", ""),
                "flip_margin": finite_or_none(st.get("flip_margin")), "reasons": list(st.get("reasons") or []),
                "scale_note": st.get("scale_note", ""),
                "test": f.test, "evidence": f.evidence,
                "source": s.where, "decided_under": ("this dltour's rules" if r["has_stats"] else
                                                     f"the rules of commit {r['rules']} (per-run values not in "
                                                     f"{'the pack' if s.origin == 'pack' else 'the summary'})"),
                "study_version": s.version, "study_version_now": s.version_now,
            })
    order = {cid: i for i, cid in enumerate(CLAIMS)}
    entries.sort(key=lambda e: (order.get(e["ref"], 999), SCALES.index(e["scale"]), e["finding"]))
    return {"about": "One entry per finding of the reference's claims (README: Verdicts as data). verdict is after "
                     "Benjamini-Hochberg over the reference-claim findings with a p-value, per scale; "
                     "verdict_unadjusted is the study's.",
            "dltour_commit": git_commit(), "alpha": ALPHA,
            "results_packs": [str(p.path) for p in packs], "results_pack_note": packs_note,
            "findings": entries}


def build_report(out_dir: str | Path, skipped: list[tuple[str, str]] | None = None,
                 wall_seconds: float | None = None, *, results: list | tuple = (),
                 default_results: bool = True) -> tuple[Path, Path]:
    """Write ``<out>/report/report.md``, ``index.html`` and ``claims.json`` from the saved
    summaries and the results packs: the project's own (``docs/results/pack.json``, unless
    ``default_results`` is False) and each folder of ``results``."""
    from dltour.claims import CLAIMS, TASKS, figure_caption
    out_dir = Path(out_dir)
    packs, packs_note = packs_for(list(results or ()), default_results)
    docs = load_summaries(out_dir)
    sources, pack_rows = gather(out_dir, docs, packs)
    annotate(sources)
    rows = Ledger(out_dir / "ledger.sqlite").rows() if (out_dir / "ledger.sqlite").exists() else []
    devices = sorted({f"{r['device']} / {_precision(r)}" for r in rows
                      if r.get("device") and r["status"] == "finished"})
    compute = sum(r["seconds"] or 0.0 for r in rows if r["status"] == "finished")
    included = [r for r in pack_rows if r["status"].startswith("included")]
    pack_line = (", ".join(f"{p.name}/pack.json" for p in packs) + f": {len(included)} of {len(pack_rows)} entries "
                 "included (see 'Results pack')") if packs else "none"
    if packs_note:
        pack_line += f"; {packs_note}"
    header = {
        "profile": ", ".join(sorted({d.profile for d in docs})) or "n/a",
        "device / precision": ", ".join(devices) or "n/a",
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if k != "platform"),
        "platform": versions()["platform"],
        "commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "time": (f"{wall_seconds:.0f} s wall for this command; " if wall_seconds else "")
                + f"{compute:.0f} s of training in the ledger's {len(rows)} runs",
        "results pack": pack_line,
    }
    by_scale = {sc: scale_rows(sources, sc) for sc in SCALES}
    ref_rows, reduced_rows, demo_rows = (by_scale[sc] for sc in SCALES)
    ref_counts = decided_counts(ref_rows)
    demo_counts = claim_counts(list(demo_rows.values()))
    reduced = [s for s in sources if s.scale["scale"] == REDUCED]
    reduced_line = (reference_headline(decided_counts(reduced_rows), REDUCED) + ". From: "
                    + "; ".join(s.where for s in reduced) + "." if reduced
                    else f"Reference claims {SCALE_TITLE[REDUCED]}: no summary in this report.")
    names = TASKS
    glance = []
    for t in _tasks():
        here = [s for s in sources if s.doc.task == t]
        rc = decided_counts({k: v for k, v in ref_rows.items() if CLAIMS[k].task == t})
        uc = decided_counts({k: v for k, v in reduced_rows.items() if CLAIMS[k].task == t})
        dr = [v for k, v in demo_rows.items() if CLAIMS[k].task == t]
        ran_demo = any(s.scale["scale"] == DEMO for s in here)
        glance.append({
            "task": t, "study": here[0].doc.study if here else names.get(t, "?"),
            "links": [(s.anchor, s.scale["label"] + (" (pack)" if s.origin == "pack" else "")) for s in here],
            "reference": _decided_text(rc)
                          + (f" ({rc['legacy']} under an earlier commit's rules, not counted)" if rc["legacy"] else ""),
            "reduced": _decided_text(uc),
            "demo": counts_line(claim_counts(dr)) if ran_demo or any(r["findings"] for r in dr) else "not run",
            "ours": _ours(sources, t)})
    studies = []
    for s in sources:
        d = s.doc
        group = [x.doc for x in sources if x.scale["scale"] == s.scale["scale"]]
        head, mrows = metric_table(d)
        studies.append({"doc": d, "src": s, "refs": reference_rows(d), "metric_header": head, "metric_rows": mrows,
                        "figures": [{"path": p, "caption": figure_caption(p.name)} for p in
                                    (_figure_path(out_dir, d, f, s.base if s.origin == "pack" else None)
                                     for f in d.figures)],
                        "claims": claim_rows(d, d.task, group), "differs": comparison_text(d),
                        "ours": [f for f in d.findings if not f.ref],
                        "tables": [_table(t) for t in d.tables]})
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    from dltour.report import datasets

    ctx = {"header": header, "studies": studies, "skipped": skipped or [],
           "overview": claims_overview(by_scale), "forest": forest_figures(sources, report_dir),
           "datasets": datasets.canonical(), "demo_files": datasets.demo_files(),
           "notice": datasets.notice_sections(),
           "reference_headline": reference_headline(ref_counts), "headline_notes": headline_notes(ref_counts, sources),
           "demo_line": counts_line(demo_counts), "reduced_line": reduced_line, "glance": glance,
           "pack_rows": pack_rows, "report_dir": report_dir}
    md = _markdown(**ctx)
    atomic_write_bytes(report_dir / "report.md", md.encode())
    page = _html(**ctx)
    atomic_write_bytes(report_dir / "index.html", page.encode())
    data = _clean_json(claims_json(sources, packs_note, packs))
    atomic_write_bytes(report_dir / "claims.json", json.dumps(data, indent=2, allow_nan=False).encode())
    return report_dir / "index.html", report_dir / "report.md"


def _clean_json(o):
    if isinstance(o, float):
        return finite_or_none(o)
    if isinstance(o, dict):
        return {str(k): _clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean_json(v) for v in o]
    return o


def _table(t: Table) -> dict:
    """A summary table as the report renders it (title, header, rows, bold cells, note)."""
    return {"title": t.title, "header": t.header, "rows": t.rows, "bold": {tuple(b) for b in t.bold},
            "note": t.note}


RULE_TEXT = ("Each claim is decided from per-seed results by one rule (`dltour.verdicts`: paired t-test by seed "
             "or Welch, TOST for 'no difference', exact tests where the t-test has nothing to say; p < 0.05); the "
             "p-values of the reference-claim findings of each scale are adjusted with Benjamini–Hochberg, and a "
             "claim that held or failed at p < 0.05 but not after it counts as inconclusive. Our own checks are "
             "counted apart.")


def _finding_md(f: Shown) -> str:
    r = f.rpt
    sec = f" ({_e(f.section)})" if f.section else ""
    return (f"  - `{_e(f.id)}`{sec} — **{_e(r['display'])}** · {_e(r['scale_label'])} · {_e(r['numbers'])}. "
            f"{_e(f.claim)}. Evidence: {_e(f.evidence)}. Test: {_e(f.test or 'none')}.")


def _pack_md(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    out = ["", "## Results pack", "",
           "Summaries of `full`-profile runs (at the reference's data and budget, or at reduced scale) that travel "
           "with the project "
           "(`docs/results/pack.json`; `--results DIR` adds a pack, `--no-results` leaves the project's out). "
           "An entry is included when it is its study's default and no summary of this run or of a later pack is at "
           "its scale.", ""]
    out.append(md_table(["study", "entry", "status", "commit", "study version", "data", "budget", "machine",
                         "wall", "command"],
                        [[r["entry"].study, r["entry"].where, r["status"], r["entry"].commit,
                          _version_text(r["entry"]), r["entry"].data, r["entry"].budget, r["entry"].machine,
                          f"{r['entry'].wall_seconds:.0f} s" if r["entry"].wall_seconds is not None else "n/a",
                          r["entry"].command] for r in rows]))
    return out


def _version_text(e) -> str:
    now = e.current_version()
    if now is None:
        return f"{e.study_version} (no such study in this dltour)"
    return str(e.study_version) if now == e.study_version else f"{e.study_version} (the current code is {now})"


def _markdown(header: dict, studies: list[dict], skipped: list, reference_headline: str, headline_notes: list[str],
              demo_line: str, reduced_line: str, glance: list[dict], pack_rows: list[dict], report_dir: Path,
              overview: list[dict], forest: list[dict], datasets: list[dict], demo_files: list[dict],
              notice: list[tuple[str, str]]) -> str:
    out = ["# dltour report", "",
           "Contents: [claims](#the-references-claims) · [effects at a glance](#effects-at-a-glance) · "
           "[by study](#by-study)" + (" · [results pack](#results-pack)" if pack_rows else "")
           + " · [data](#data) · [this run](#this-run)", ""]
    for name, why in skipped:
        out.append(f"> **{_e(name)} was not run**: {_e(why)}")
    out += ["", "## The reference's claims", "",
            f"**{reference_headline}.** " + " ".join(_e(n) for n in headline_notes),
            "", f"**Below the reference's scale, not a verdict at it.** {_e(reduced_line)}",
            "", f"**On the demo's data and budget: not a verdict on the reference.** Reference claims: {demo_line} "
            "(after Benjamini–Hochberg; the demo's summaries).", "", RULE_TEXT, ""]
    out.append(md_table(["R", "claim", "verdict", "effect (95% CI)", "n", "scale"],
                        [[f"{o['id']} ({o['task']})", o["text"],
                          f"{o['verdict']} {o['qualifier']}".strip(),
                          "; ".join(e["text"] for e in o["effects"]) or "—",
                          ", ".join(e["n"] for e in o["effects"] if e["n"]) or "—",
                          o["scale"] + (f"; {o['also']}" if o["also"] else "")] for o in overview]))
    out += ["", "The scale is the largest that decides the claim (the reference's data and budget, else reduced scale, "
            "else the demo's), the other scales' verdicts beside it; "
            "each study's section below has every finding's evidence and test.", "",
            "## Effects at a glance", ""]
    for f in forest:
        out += [f"![Reference claims' effects {f['title']}]({f['name']})", "",
                f"*Hedges' g of {f['shown']} findings {f['title']}, with 95% CIs, the claimed direction to the right; "
                f"{f['left']} finding(s) without a standardised effect (rates, per-run correlations, deterministic "
                "values, earlier rules) not drawn.*", ""]
    if not forest:
        out += ["No finding in this report has a standardised effect to draw.", ""]
    out += ["## By study", ""]
    out.append(md_table(["task", "study", "at the reference's data and budget", "at reduced scale",
                         "on the demo's data and budget", "our checks"],
                        [[g["task"], g["study"], g["reference"], g["reduced"], g["demo"], g["ours"]] for g in glance]))
    out += _pack_md(pack_rows)
    for s in studies:
        d, src = s["doc"], s["src"]
        out += ["", f"## {_e(d.task)} {_e(d.study)}: {_e(d.title)} — {src.scale['label']}", "",
                f"Source: {_e(src.where)}. Profile `{_e(d.profile)}`, {d.runs} runs, {d.seconds:.0f} s of "
                "training."]
        if src.entry is not None:
            e = src.entry
            out.append(f"\nData: {_e(e.data)}. Budget: {_e(e.budget)}. Machine: {_e(e.machine)}; "
                       + (f"{e.wall_seconds:.0f} s wall. " if e.wall_seconds is not None else "")
                       + f"Command: `{_e(e.command)}`." + (f" {_e(e.note)}" if e.note else ""))
        if src.old_version:
            out.append(f"\n**Older study version:** {_e(src.version_note)}. Its numbers and verdicts are that "
                       "version's, not this code's.")
        if any(not f.rpt["has_stats"] for f in d.findings):
            scope = "the pack" if src.origin == "pack" else "the summary"
            out.append(f"\n*Its findings were decided under the rules of commit {_e(src.rules)} (per-run values not "
                       f"in {scope}): no adjusted p for them.*")
        if s["differs"]:
            out.append(f"\n*Not comparable with the reference: {_e(s['differs'])}. The reference numbers are "
                       "shown for orientation; no deltas are computed.*")
        if d.nan_runs:
            out.append(f"\n**{len(d.nan_runs)} run(s) produced NaN** (excluded from means, counted in n): "
                       + _e("; ".join(d.nan_runs)))
        out += ["", "### The reference's claims", ""]
        for c in s["claims"]:
            cell = claim_cell(c)
            verdict = cell["text"] if c["findings"] else c["verdict"]
            out.append(f"- **{c['id']}** ({c['kind']}) *{_e(c['text'])}* — **{_e(verdict)}**")
            out += [_finding_md(f) for f in c["findings"]]
        if s["ours"]:
            out += ["", "### Our own checks (not the reference's claims)", ""]
            out += [_finding_md(f).lstrip() for f in s["ours"]]
        for n in d.notes:
            out.append(f"\n{_e(n)}")
        for fig in s["figures"]:
            f = fig["path"]
            link = f"../{d.study}/{f.name}" if src.origin == "run" else _relative_link(f, report_dir)
            out.append(f"\n![{_e(fig['caption'])}]({link})\n\n*{_e(fig['caption'])}*")
        if s["refs"]:
            out += ["", "### Reference vs this run" if src.origin == "run" else "### Reference vs this pack entry", ""]
            out.append(md_table(["source", "variant", "metric", "reference", "this run (mean ± 95% CI, n)"
                                 if src.origin == "run" else "this entry (mean ± 95% CI, n)", "delta", "note"],
                                [[r["source"], r["variant"], r["metric"], r["reference"], r["ours"], r["delta"],
                                  r["note"]] for r in s["refs"]]))
        out += ["", "### All metrics", "", md_table(s["metric_header"], s["metric_rows"])]
        for t in s["tables"]:
            out += ["", f"### {_e(t['title'])}", ""]
            out.append(md_table(t["header"], t["rows"], t["bold"]))
            if t["note"]:
                out += ["", _e(t["note"])]
    out += ["", "## Data", "", "The canonical datasets (what the `full` profile reads; `dltour data list` shows "
            "their cache state):", ""]
    out.append(md_table(["dataset", "family", "source", "checksum", "licence"],
                        [[r["name"], r["family"], r["url"], r["checksum"], r["licence"]] for r in datasets]))
    out += ["", "The embedded demo pack (`src/dltour/demo_data/`, what the `demo` profile reads; sha256 computed "
            "when this report was written):", ""]
    out.append(md_table(["file", "bytes", "sha256"], [[r["file"], f"{r['bytes']:,}", r["sha256"]]
                                                       for r in demo_files]))
    out += ["", "Sources and licences (the pack's `NOTICE.md`):", ""]
    out += [f"- **{_e(h)}**: {_e(t)}" for h, t in notice]
    out += ["", "## This run", ""]
    out += [f"- **{k}**: {_e(v)}" for k, v in header.items()]
    return "\n".join(out) + "\n"


def _relative_link(path: Path, report_dir: Path) -> str:
    """A link from ``report.md`` to a pack's figure, relative to the report's folder (so the pair can
    move together); absolute where no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix()
    except ValueError:
        return str(path.resolve())


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _html(**ctx) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["img"] = _img
    env.filters["verdict"] = _verdict
    env.filters["cls"] = _cls
    env.globals["claim_cell"] = claim_cell
    env.globals["version_text"] = _version_text
    env.globals["rule_text"] = RULE_TEXT
    from dltour.report.datasets import inline_html
    env.filters["inline"] = lambda t: markupsafe.Markup(inline_html(str(t)))  # nosec B704  # inline_html escapes all input (quotes too) before adding its own tags
    return env.from_string(TEMPLATE.read_text()).render(**ctx)
