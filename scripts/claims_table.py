"""The claims table for docs/claims.md, from a report's claims.json.

    python scripts/claims_table.py dltour-out/report/claims.json > docs/claims.md
    python scripts/claims_table.py dltour-out/report/claims.json --out docs/claims.md

For every R-number of the reference (``dltour.claims``): its sentence, then each finding that
decides it in that report (one row per finding and scale), its test (the first clause of the
finding's test line), its unit of replication (the independent runs, seeds, behind the test), its
margin and where the margin comes from, and its verdict (after Benjamini-Hochberg, as the report
counts it). A claim with no finding in the report gets one row saying so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def first_clause(test: str) -> str:
    """The test line up to its first ':' or ';' outside parentheses ("paired t-test by seed (n=3
    pairs)" of "paired t-test by seed (n=3 pairs): mean difference ...")."""
    depth = 0
    for i, ch in enumerate(test):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ":;" and depth == 0:
            return test[:i].strip()
    return test.strip()


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(x) -> str:
    if x is None:
        return ""
    return f"{x:.4g}"


def unit_of_replication(e: dict) -> str:
    if e.get("n_runs"):
        return f"{e['n_runs']} seeds (independent runs)"
    if str(e.get("decided_under", "")).startswith("the rules of commit"):
        return "not recorded: decided under " + e["decided_under"]
    return "none (no test over runs)"


def margin_text(e: dict) -> str:
    if e.get("margin") is None:
        return "none"
    unit = (e.get("effect") or {}).get("unit") or ""
    txt = f"±{_num(e['margin'])}" + (f" {unit}" if unit else "")
    if e.get("margin_source"):
        txt += f" ({e['margin_source']})"
    if e.get("flip_margin") is not None:
        txt += f"; flips at ±{_num(e['flip_margin'])}"
    return txt


def verdict_text(e: dict) -> str:
    v = e["verdict"]
    if e.get("verdict_unadjusted") and e["verdict_unadjusted"] != v:
        v += f" after BH (unadjusted: {e['verdict_unadjusted']})"
    return v


def table(data: dict) -> str:
    from dltour.claims import CLAIMS
    from dltour.report.build import SCALES

    by_ref: dict[str, list[dict]] = {}
    for e in data.get("findings", []):
        by_ref.setdefault(e["ref"], []).append(e)
    head = ["R", "task", "claim", "finding", "scale", "test", "unit of replication", "margin (source)", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in CLAIMS.values():
        rows = by_ref.get(c.id, [])
        if not rows:
            why = "explanation: no verdict" if c.kind == "X" else "no finding in this report"
            lines.append("| " + " | ".join(_cell(x) for x in [c.id, c.task, c.text, why, "", "", "", "", ""]) + " |")
            continue
        rows = sorted(rows, key=lambda e: (SCALES.index(e["scale"]), e["finding"]))
        for i, e in enumerate(rows):
            scale = e.get("scale_label") or e["scale"]
            lines.append("| " + " | ".join(_cell(x) for x in [
                c.id if i == 0 else "", c.task if i == 0 else "", c.text if i == 0 else "",
                f"`{e['finding']}` ({e['study']})", scale, first_clause(e.get("test") or "") or "none",
                unit_of_replication(e), margin_text(e), verdict_text(e)]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("claims_json", type=Path, help="a report's claims.json (DIR/report/claims.json)")
    ap.add_argument("--out", type=Path, help="write the Markdown here (default: stdout)")
    args = ap.parse_args(argv)
    data = json.loads(args.claims_json.read_text())
    md = ("# The reference's claims: findings, tests, units of replication, margins\n\n"
          f"From `{args.claims_json}` (dltour commit {data.get('dltour_commit', '?')}); verdicts after "
          "Benjamini–Hochberg per scale, as the report counts them. Written by `scripts/claims_table.py`.\n\n"
          + table(data))
    if args.out:
        args.out.write_text(md)
    else:
        sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
