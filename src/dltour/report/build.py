"""The report: a header (profile, device, versions, commit, date, time), then per study its
figures, ``metric | reference | this run (mean +- 95% CI, n) | delta``, all metrics, extra tables
and its findings marked holds / does not hold."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from pathlib import Path

import jinja2

from dltour.ledger import Ledger
from dltour.execute import versions
from dltour.rundir import atomic_write_bytes
from dltour.verdicts import fmt as fmt_num

TEMPLATE = Path(__file__).with_name("template.html")


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "") if res.returncode == 0 else "unknown (not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "unknown"




def fmt_stat(s: dict | None) -> str:
    """``mean ± ci95 (n=3)``; with n = 1 no ± (a single seed has no spread); NaN runs counted."""
    if not s or s.get("mean") is None:
        nan = (s or {}).get("nan") or 0
        return f"n/a ({nan} NaN run(s))" if nan else "n/a"
    txt = fmt_num(s["mean"])
    if s.get("ci95") is not None and s.get("n", 0) > 1:
        txt += f" ± {fmt_num(s['ci95'])}"
    txt += f" (n={s['n']}"
    if s.get("nan"):
        txt += f", {s['nan']} NaN"
    return txt + ")"


def comparison_text(doc: dict) -> str | None:
    """None when the study's results can be compared with the reference's numbers, else which of
    data and budget differs."""
    cmp = doc.get("comparison") or {"data": doc.get("comparable", True), "budget": True, "why": ""}
    if cmp["data"] and cmp["budget"]:
        return None
    parts = []
    if not cmp["data"]:
        parts.append("the data differs from the reference's")
    if not cmp["budget"]:
        parts.append("the training budget differs from the reference's")
    txt = " and ".join(parts)
    return txt + (f" ({cmp['why']})" if cmp.get("why") else "")


def reference_rows(doc: dict) -> list[dict]:
    rows = []
    differs = comparison_text(doc)
    for ref in doc["reference"]:
        ours = doc["metrics"].get(ref["variant"], {}).get(ref["metric"])
        mean = ours.get("mean") if ours else None
        if differs:
            delta = "not compared: " + differs.split(" (")[0]
        elif mean is None:
            delta = "not run in this profile"
        else:
            delta = f"{mean - ref['value']:+.4g}"
        rows.append({"source": ref["source"], "variant": ref["variant"], "metric": ref["metric"],
                     "reference": fmt_num(ref["value"]), "ours": fmt_stat(ours), "delta": delta,
                     "note": ref.get("note", "")})
    return rows


def metric_table(doc: dict) -> tuple[list[str], list[list[str]]]:
    metrics = doc["metrics"]
    keys = [k for k in doc.get("headline_metrics") or [] if any(k in m for m in metrics.values())]
    keys += sorted({k for m in metrics.values() for k in m} - set(keys))
    order = [v for v in doc.get("variant_order", []) if v in metrics] or list(metrics)
    rows = [[v] + [fmt_stat(metrics[v].get(k)) if k in metrics[v] else "" for k in keys] for v in order]
    return ["variant"] + keys, rows


def md_table(header: list[str], rows: list[list[str]], bold: list | None = None) -> str:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    strong = {tuple(b) for b in bold or []}
    cell = lambda i, j, c: f"**{esc(c)}**" if (i, j) in strong and str(c) else esc(c)  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(i, j, c) for j, c in enumerate(r)) + " |" for i, r in enumerate(rows)]
    return "\n".join(lines)


def combine(verdicts: list[str]) -> str:
    """One verdict for a claim checked by several findings: it holds when all hold, does not hold
    when any does not, is not checked when none decided anything, and is inconclusive otherwise."""
    if not verdicts or all(v == "not checked" for v in verdicts):
        return "not checked"
    if "does not hold" in verdicts:
        return "does not hold"
    if all(v == "holds" for v in verdicts):
        return "holds"
    return "inconclusive"


def _verdict(f: dict) -> str:
    if "verdict" in f:
        return f["verdict"]
    return {True: "holds", False: "does not hold", None: "not checked"}[f.get("holds")]


def claim_rows(doc: dict | None, task: str, others: list[dict] = ()) -> list[dict]:
    """Every claim of the reference for ``task`` with its findings and combined verdict. A claim
    may be decided by another study's runs (R37, a T4.1 claim, needs T3.1's code-size sweep):
    findings of ``others`` that name it count too, marked with their study."""
    from dltour.claims import for_task

    findings = list((doc or {}).get("findings", []))
    for o in others:
        if o is not doc:
            findings += [{**f, "section": f"from {o['study']}" + (f", {f['section']}" if f.get("section") else "")}
                         for f in o.get("findings", []) if f.get("ref") and f["ref"] not in
                         {c.id for c in for_task(o["task"])}]
    rows = []
    for c in for_task(task):
        fs = [f for f in findings if f.get("ref") == c.id]
        verdict = combine([_verdict(f) for f in fs]) if c.testable else "explanation (no verdict)"
        rows.append({"id": c.id, "kind": c.kind, "text": c.text, "verdict": verdict, "findings": fs})
    return rows


def claim_counts(rows: list[dict]) -> dict[str, int]:
    counts = {"testable": 0, "holds": 0, "does not hold": 0, "inconclusive": 0, "not checked": 0}
    for r in rows:
        if r["kind"] == "X":
            continue
        counts["testable"] += 1
        counts[r["verdict"]] += 1
    return counts


def counts_line(c: dict[str, int]) -> str:
    return (f"{c['testable']} testable — holds {c['holds']}, does not hold {c['does not hold']}, "
            f"inconclusive {c['inconclusive']}, not checked {c['not checked']}")


def ours_counts(findings: list[dict]) -> dict[str, int]:
    c = {"holds": 0, "does not hold": 0, "inconclusive": 0, "not checked": 0}
    for f in findings:
        if not f.get("ref"):
            c[_verdict(f)] += 1
    return c


def load_summaries(out_dir: Path) -> list[dict]:
    docs = []
    for p in sorted(out_dir.glob("*/summary.json")):
        try:
            docs.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    from dltour.registry import _task_key

    return sorted(docs, key=lambda d: _task_key(d.get("task", "T99")))


def _figure_path(out_dir: Path, doc: dict, f: str, base: Path | None = None) -> Path:
    """A summary's figure: a file name in the study's folder (``<out>/<study>/``, or ``base``, the
    folder the summary was read from). Older summaries stored the path the run wrote (relative to
    the working directory then, or absolute): their file name is looked up in the study's folder.
    A listed figure that is not there stops the report with one line naming the file."""
    from dltour import DltourError

    folder = base if base is not None else out_dir / doc["study"]
    p = folder / Path(f).name
    if not p.is_file():
        raise DltourError(f"the report cannot find the figure {str(p)!r} that {doc['study']}'s summary lists; "
                          f"rerun `dltour run {doc['study']}` with the same --out to write it again")
    return p


def _precision(row: dict) -> str:
    """``fp32`` or ``bf16 autocast`` (ledgers from before ``--precision`` have the dtype only)."""
    p = row.get("precision")
    if p:
        return "fp32" if p == "fp32" else f"{p} autocast"
    return {"float32": "fp32"}.get(row.get("dtype") or "", row.get("dtype") or "?")


def build_report(out_dir: str | Path, skipped: list[tuple[str, str]] | None = None,
                 wall_seconds: float | None = None) -> tuple[Path, Path]:
    from dltour.claims import CLAIMS
    from dltour.registry import all_studies

    out_dir = Path(out_dir)
    docs = load_summaries(out_dir)
    rows = Ledger(out_dir / "ledger.sqlite").rows() if (out_dir / "ledger.sqlite").exists() else []
    devices = sorted({f"{r['device']} / {_precision(r)}" for r in rows if r.get("device") and r["status"] == "finished"})
    compute = sum(r["seconds"] or 0.0 for r in rows if r["status"] == "finished")
    header = {
        "profile": ", ".join(sorted({d["profile"] for d in docs})) or "n/a",
        "device / precision": ", ".join(devices) or "n/a",
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if k != "platform"),
        "platform": versions()["platform"],
        "commit": _git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "time": (f"{wall_seconds:.0f} s wall for this command; " if wall_seconds else "")
                + f"{compute:.0f} s of training in the ledger's {len(rows)} runs",
    }
    by_task = {d["task"]: d for d in docs}
    tasks = sorted({c.task for c in CLAIMS.values()}, key=_task_key)
    names = {s.task: s.name for s in all_studies()}
    all_claims = [r for t in tasks for r in claim_rows(by_task.get(t), t, docs)]
    overall = claim_counts(all_claims)
    glance = []
    for t in tasks:
        d = by_task.get(t)
        c = claim_counts(claim_rows(d, t, docs))
        o = ours_counts(d["findings"]) if d else ours_counts([])
        glance.append({"task": t, "study": d["study"] if d else names.get(t, "?"), "ran": d is not None,
                       "reference": counts_line(c),
                       "ours": ", ".join(f"{k} {v}" for k, v in o.items() if v) or "none"})
    studies = []
    for d in docs:
        head, mrows = metric_table(d)
        studies.append({"doc": d, "refs": reference_rows(d), "metric_header": head, "metric_rows": mrows,
                        "figures": [_figure_path(out_dir, d, f) for f in d["figures"]],
                        "claims": claim_rows(d, d["task"], docs), "differs": comparison_text(d),
                        "ours": [f for f in d["findings"] if not f.get("ref")],
                        "tables": [_table(t) for t in d["tables"]]})
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    ctx = {"header": header, "studies": studies, "skipped": skipped or [], "overall": counts_line(overall),
           "glance": glance}
    md = _markdown(**ctx)
    atomic_write_bytes(report_dir / "report.md", md.encode())
    page = _html(**ctx)
    atomic_write_bytes(report_dir / "index.html", page.encode())
    return report_dir / "index.html", report_dir / "report.md"


def _task_key(task: str):
    from dltour.registry import _task_key as key

    return key(task)


def _table(t: dict) -> dict:
    """A summary table as data (title, header, rows, bold, note)."""
    return {"title": t["title"], "header": t["header"], "rows": t["rows"],
            "bold": {tuple(b) for b in t.get("bold", [])}, "note": t.get("note", "")}


def _finding_md(f: dict) -> str:
    sec = f" ({f['section']})" if f.get("section") else ""
    return (f"  - `{f['id']}`{sec} — **{_verdict(f)}**. {f['claim']}. Evidence: {f['evidence']}. "
            f"Test: {f.get('test') or 'none'}.")


def _markdown(header: dict, studies: list[dict], skipped: list, overall: str, glance: list[dict]) -> str:
    out = ["# dltour report", ""]
    out += [f"- **{k}**: {v}" for k, v in header.items()]
    out.append("")
    for name, why in skipped:
        out.append(f"> **{name} was not run**: {why}")
    out += ["", "## The reference's claims at a glance", "",
            f"**Reference claims: {overall}.** Each claim is decided from per-seed results by one rule "
            "(paired t-test by seed or Welch, TOST for 'no difference', p < 0.05; n = 1 is never decided "
            "unless the quantity is deterministic). Our own checks are counted apart.", ""]
    out.append(md_table(["task", "study", "reference claims", "our checks"],
                        [[g["task"], g["study"] + ("" if g["ran"] else " (not run)"), g["reference"], g["ours"]]
                         for g in glance]))
    for s in studies:
        d = s["doc"]
        out += ["", f"## {d['task']} {d['study']}: {d['title']}", "",
                f"Profile `{d['profile']}`, {d['runs']} runs, {d['seconds']:.0f} s of training."]
        if s["differs"]:
            out.append(f"\n*Not comparable with the reference: {s['differs']}. The reference numbers are "
                       "shown for orientation; no deltas are computed.*")
        if d.get("nan_runs"):
            out.append(f"\n**{len(d['nan_runs'])} run(s) produced NaN** (excluded from means, counted in n): "
                       + "; ".join(d["nan_runs"]))
        out += ["", "### The reference's claims", ""]
        for c in s["claims"]:
            out.append(f"- **{c['id']}** ({c['kind']}) *{c['text']}* — **{c['verdict']}**")
            out += [_finding_md(f) for f in c["findings"]]
        if s["ours"]:
            out += ["", "### Our own checks (not the reference's claims)", ""]
            out += [_finding_md(f).lstrip() for f in s["ours"]]
        for n in d["notes"]:
            out.append(f"\n{n}")
        for f in s["figures"]:
            out.append(f"\n![{f.stem}](../{d['study']}/{f.name})")
        if s["refs"]:
            out += ["", "### Reference vs this run", ""]
            out.append(md_table(["source", "variant", "metric", "reference", "this run (mean ± 95% CI, n)", "delta",
                                 "note"],
                                [[r["source"], r["variant"], r["metric"], r["reference"], r["ours"], r["delta"],
                                  r["note"]] for r in s["refs"]]))
        out += ["", "### All metrics", "", md_table(s["metric_header"], s["metric_rows"])]
        for t in s["tables"]:
            out += ["", f"### {t['title']}", ""]
            out.append(md_table(t["header"], t["rows"], t["bold"]))
            if t["note"]:
                out += ["", t["note"]]
    return "\n".join(out) + "\n"


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _html(**ctx) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["img"] = _img
    env.filters["verdict"] = _verdict
    env.filters["cls"] = lambda v: {"holds": "holds", "does not hold": "fails", "inconclusive": "inc"}.get(v, "nc")
    return env.from_string(TEMPLATE.read_text()).render(**ctx)
