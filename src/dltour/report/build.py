"""The report: a header (profile, device, versions, commit, date, time), then per study its
figures, ``metric | reference | this run (mean +- 95% CI, n) | delta``, all metrics, extra tables
and its findings marked holds / does not hold."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import subprocess
from pathlib import Path

import jinja2

from dltour.ledger import Ledger
from dltour.runs import atomic_write_bytes, versions

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


def fmt_num(x: float | None) -> str:
    if x is None:
        return "n/a"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e6):
        return f"{x:.3g}"
    if ax >= 100:
        return f"{x:.1f}"
    return f"{x:.4g}"


def fmt_stat(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "n/a"
    txt = fmt_num(s["mean"])
    if s.get("ci95") is not None:
        txt += f" ± {fmt_num(s['ci95'])}"
    return txt + f" (n={s['n']})"


def reference_rows(doc: dict) -> list[dict]:
    rows = []
    for ref in doc["reference"]:
        ours = doc["metrics"].get(ref["variant"], {}).get(ref["metric"])
        mean = ours.get("mean") if ours else None
        if not doc["comparable"]:
            delta = "not comparable (this profile's data differs from the reference's)"
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


def md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _md_to_html_table(md: str) -> str:
    """Render the simple pipe tables studies put in ``tables`` (no other markdown)."""
    lines = [ln for ln in md.strip().splitlines() if ln.strip()]
    if len(lines) < 2 or not lines[0].startswith("|"):
        return f"<pre>{html.escape(md)}</pre>"
    split = lambda ln: [c.strip().replace("\\|", "|") for c in ln.strip().strip("|").split(" | ")]  # noqa: E731
    head = "".join(f"<th>{html.escape(c)}</th>" for c in split(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in split(ln)) + "</tr>" for ln in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def load_summaries(out_dir: Path) -> list[dict]:
    docs = []
    for p in sorted(out_dir.glob("*/summary.json")):
        try:
            docs.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    from dltour.registry import _task_key

    return sorted(docs, key=lambda d: _task_key(d.get("task", "T99")))


def build_report(out_dir: str | Path, skipped: list[tuple[str, str]] | None = None,
                 wall_seconds: float | None = None) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    docs = load_summaries(out_dir)
    rows = Ledger(out_dir / "ledger.sqlite").rows() if (out_dir / "ledger.sqlite").exists() else []
    devices = sorted({f"{r['device']} / {r['dtype']}" for r in rows if r.get("device")})
    compute = sum(r["seconds"] or 0.0 for r in rows if r["status"] == "finished")
    header = {
        "profile": ", ".join(sorted({d["profile"] for d in docs})) or "n/a",
        "device": ", ".join(devices) or "n/a",
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if k != "platform"),
        "platform": versions()["platform"],
        "commit": _git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "time": (f"{wall_seconds:.0f} s wall for this command; " if wall_seconds else "")
                + f"{compute:.0f} s of training in the ledger's {len(rows)} runs",
    }
    studies = []
    for d in docs:
        head, mrows = metric_table(d)
        n_hold = sum(1 for f in d["findings"] if f["holds"] is True)
        studies.append({"doc": d, "refs": reference_rows(d), "metric_header": head, "metric_rows": mrows,
                        "figures": [Path(f) for f in d["figures"] if Path(f).exists()],
                        "n_hold": n_hold, "n_findings": len(d["findings"])})
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    md = _markdown(header, studies, skipped or [])
    atomic_write_bytes(report_dir / "report.md", md.encode())
    page = _html(header, studies, skipped or [])
    atomic_write_bytes(report_dir / "index.html", page.encode())
    return report_dir / "index.html", report_dir / "report.md"


def _markdown(header: dict, studies: list[dict], skipped: list) -> str:
    out = ["# dltour report", ""]
    out += [f"- **{k}**: {v}" for k, v in header.items()]
    out.append("")
    for name, why in skipped:
        out.append(f"> **{name} was not run**: {why}")
    out += ["", "## Findings at a glance", ""]
    out.append(md_table(["study", "task", "claims holding"],
                        [[s["doc"]["study"], s["doc"]["task"], f"{s['n_hold']}/{s['n_findings']}"] for s in studies]))
    for s in studies:
        d = s["doc"]
        out += ["", f"## {d['task']} {d['study']}: {d['title']}", "",
                f"Profile `{d['profile']}`, {d['runs']} runs, {d['seconds']:.0f} s of training."]
        if not d["comparable"]:
            out.append("\n*This profile's data differs from the reference's: the reference numbers are shown for "
                       "orientation, not compared.*")
        for n in d["notes"]:
            out.append(f"\n{n}")
        for f in s["figures"]:
            out.append(f"\n![{f.stem}](../{d['study']}/{f.name})")
        if s["refs"]:
            out += ["", "### Reference vs this run", ""]
            out.append(md_table(["source", "variant", "metric", "reference", "this run (mean ± 95% CI, n)", "delta"],
                                [[r["source"], r["variant"], r["metric"], r["reference"], r["ours"], r["delta"]]
                                 for r in s["refs"]]))
        out += ["", "### All metrics", "", md_table(s["metric_header"], s["metric_rows"])]
        for t in d["tables"]:
            out += ["", f"### {t['title']}", "", t["markdown"]]
        if d["findings"]:
            out += ["", "### Findings", ""]
            for f in d["findings"]:
                mark = {True: "holds", False: "does not hold", None: "not checked"}[f["holds"]]
                out.append(f"- **{mark}**: {f['claim']} ({f['evidence']})")
    return "\n".join(out) + "\n"


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _html(header: dict, studies: list[dict], skipped: list) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["img"] = _img
    env.filters["table"] = lambda md: jinja2.utils.markupsafe.Markup(_md_to_html_table(md))
    return env.from_string(TEMPLATE.read_text()).render(header=header, studies=studies, skipped=skipped)
