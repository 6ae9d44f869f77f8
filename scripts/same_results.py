"""Are two `dltour reproduce` (or `dltour run`) outputs the same results? For a refactoring that must
change nothing for a user (issue 20 item 6):

    python scripts/same_results.py OUT_BEFORE OUT_AFTER

Compares the run ids; every run's metrics.json bit for bit (as JSON text), timings and the run's
provenance aside; every summary's findings (id, verdict, evidence, test, stats), metrics, per-run
values, tables, figures, reference and comparison, timings aside; the report's section headings;
and report/claims.json, its `source` paths and the commit aside. Prints what differs; exit 0 when
nothing does, 1 otherwise."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: metric names that are timings (they differ from run to run of the same code)
TIMING = re.compile(r"(seconds|_s$|_us$|_us_|time|per_s|wall)")
#: summary fields made of timings: notes and tables quote them (e.g. "precompute 5.6 s")
TIMED_FIELDS = ("notes", "tables", "seconds")


def _drop_timings(obj):
    if isinstance(obj, dict):
        return {k: _drop_timings(v) for k, v in obj.items() if not TIMING.search(str(k))}
    if isinstance(obj, list):
        return [_drop_timings(v) for v in obj]
    return obj


def run_metrics(out: Path) -> dict[str, str]:
    d = {}
    for p in sorted((out / "runs").glob("*/*/metrics.json")):
        m = json.loads(p.read_text())
        m.pop("_run", None)
        d[f"{p.parent.parent.name}/{p.parent.name}"] = json.dumps(_drop_timings(m), sort_keys=True)
    return d


def main(a: Path, b: Path) -> int:
    bad: list[str] = []
    ma, mb = run_metrics(a), run_metrics(b)
    if set(ma) != set(mb):
        bad.append(f"run ids differ: {sorted(set(ma) ^ set(mb))[:10]}")
    bad += [f"metrics of run {k}" for k in sorted(set(ma) & set(mb)) if ma[k] != mb[k]]
    n_findings = 0
    for sa in sorted(a.glob("*/summary.json")):
        sb = b / sa.parent.name / "summary.json"
        if not sb.exists():
            bad.append(f"{sb} missing")
            continue
        da, db = json.loads(sa.read_text()), json.loads(sb.read_text())
        fa = [{k: f.get(k) for k in ("id", "verdict", "evidence", "test", "stats", "ref")} for f in da["findings"]]
        fb = [{k: f.get(k) for k in ("id", "verdict", "evidence", "test", "stats", "ref")} for f in db["findings"]]
        n_findings += len(fa)
        if fa != fb:
            bad.append(f"{sa.parent.name}: findings")
        for key in ("metrics", "per_run", "figures", "reference", "comparison", "variant_order"):
            if json.dumps(_drop_timings(da.get(key)), sort_keys=True) != json.dumps(_drop_timings(db.get(key)),
                                                                                    sort_keys=True):
                bad.append(f"{sa.parent.name}: {key}")
        ta = [{k: t.get(k) for k in ("title", "header")} for t in da.get("tables", [])]
        tb = [{k: t.get(k) for k in ("title", "header")} for t in db.get("tables", [])]
        if ta != tb:
            bad.append(f"{sa.parent.name}: table titles or headers")
    has = [(o / "report" / "report.md").is_file() for o in (a, b)]
    heads: list[list[str]] = [[], []]
    if has[0] != has[1]:
        bad.append("report: only one of the two has report/report.md")
    elif all(has):  # a `dltour reproduce` output (`dltour run` writes no report)
        heads = [[ln for ln in (o / "report" / "report.md").read_text().splitlines() if ln.startswith("#")]
                 for o in (a, b)]
        if heads[0] != heads[1]:
            bad.append("report sections")
        ca, cb = (json.loads((o / "report" / "claims.json").read_text()) for o in (a, b))
        strip = lambda c: [{k: v for k, v in e.items() if k != "source"} for e in c["findings"]]  # noqa: E731
        if strip(ca) != strip(cb):
            bad.append("report/claims.json findings")
    print(f"{len(ma)} runs, {n_findings} findings, {len(heads[0])} report sections compared "
          f"(timings, provenance, source paths and the commit aside)")
    for line in bad:
        print("DIFFERS:", line)
    print("same results" if not bad else f"{len(bad)} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
