"""How much of each study's science file is science (issue 20 item 1: "every study's science file
under 300 lines with at least two thirds science; say how counted").

    python scripts/science_share.py   # a table over src/dltour/experiments/<study>/science.py

Each study is a package: ``science.py`` (the science file, counted here), ``findings.py`` (what the
runs mean) and ``__init__.py`` (the study's description, what we assumed, and its declarations:
profiles, variants, the reference's setup); the last two are listed by their length only.

How it counts, from the file's syntax tree (lines with `wc -l`'s meaning, blank lines going to the
part they sit in, comments to the statement after them):

- docstring: the module docstring;
- config: ``class Config`` and its validators (the study's parameters with their docstrings);
- declarations: imports, module constants, the study class's attributes (``Config = Config``; in the
  study's ``__init__``: name, task, profiles, bindings of the findings file's functions) and its ``variants``, ``run_key``, ``check_data``,
  ``unused_keys``, ``comparison``, ``skipped_variants``, ``claims_about``, ``bench_default``,
  ``benchable``;
- bench hooks: ``bench`` and ``check_model`` (and helper classes only they use: named ``_Recorder``,
  ``_Replay``);
- science: everything else: the data it trains on, models, losses, training steps, metrics computed
  in a run, baselines, ``run`` and its helpers.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "dltour" / "experiments"
DECLARATION_METHODS = {"variants", "run_key", "unused_keys", "check_data", "comparison", "skipped_variants",
                       "bench_variant", "weights_available", "label", "bench_default", "benchable"}
BENCH = {"bench", "check_model", "_Recorder", "_Replay"}


def _start(node: ast.AST) -> int:
    decos = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decos])


def parts(path: Path) -> dict[str, int]:
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    owner = [""] * (len(lines) + 2)  # 1-based: the part each line belongs to

    def mark(a: int, b: int, part: str) -> None:
        for i in range(a, b + 1):
            owner[i] = part

    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        mark(1, body[0].end_lineno, "docstring")
        body = body[1:]
    for node in body:
        a, b = _start(node), node.end_lineno
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
            mark(a, b, "declarations")
        elif isinstance(node, ast.ClassDef) and node.name == "Config":
            mark(a, b, "config")
        elif isinstance(node, ast.ClassDef) and node.name in BENCH:
            mark(a, b, "bench hooks")
        elif isinstance(node, ast.ClassDef) and (
                any(isinstance(d, ast.Name) and d.id == "register" for d in node.decorator_list)
                or any(isinstance(b, ast.Name) and b.id == "Study" for b in node.bases)):
            mark(a, node.body[0].lineno - 1, "declarations")  # the class line and its decorator
            for m in node.body:
                if m is node.body[0] and isinstance(m, ast.Expr) and isinstance(m.value, ast.Constant):
                    mark(m.lineno, m.end_lineno, "docstring")  # the class's docstring
                    continue
                ma, mb = _start(m), m.end_lineno
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    part = ("bench hooks" if m.name in BENCH else
                            "declarations" if m.name in DECLARATION_METHODS else "science")
                else:
                    part = "declarations"
                mark(ma, mb, part)
        else:
            mark(a, b, "science")
    # blank lines and comments go to the next statement's part (the file's tail to the last one)
    nxt = "declarations"
    for i in range(len(lines), 0, -1):
        if owner[i]:
            nxt = owner[i]
        else:
            owner[i] = nxt
    out = {k: 0 for k in ("docstring", "config", "declarations", "bench hooks", "science")}
    for i in range(1, len(lines) + 1):
        out[owner[i]] += 1
    return out


def main() -> int:
    files = sorted(ROOT.glob("*/science.py"))
    print(f"{'study':<18} {'lines':>5} {'docstr':>6} {'config':>6} {'decl':>5} {'bench':>5} {'science':>7} "
          f"{'share':>5}  {'target':>6}   {'__init__':>8} {'findings':>8}")
    for p in files:
        c = parts(p)
        n = sum(c.values())
        other = [len(p.with_name(f).read_text().splitlines()) for f in ("__init__.py", "findings.py")]
        meets = n < 300 and 3 * c["science"] >= 2 * n  # issue 20: under 300 lines, at least two thirds science
        print(f"{p.parent.name:<18} {n:>5} {c['docstring']:>6} {c['config']:>6} {c['declarations']:>5} "
              f"{c['bench hooks']:>5} {c['science']:>7} {c['science'] / n:>5.1%}  {'met' if meets else 'no':>6}   "
              f"{other[0]:>8} {other[1]:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
