#!/usr/bin/env python
"""Build the embedded demo pack ``src/dltour/demo_data/`` from the mirrored real datasets.

Every module under ``dltour.data`` that defines ``build_demo(shared_data: Path, demo_dir: Path)``
contributes its files (and a ``DEMO_NOTICE`` string: source, licence, subset). The script writes
``NOTICE.md`` from those strings and checks the pack's 20 MB budget.

    python scripts/build_demo_pack.py [--shared ../shared/data] [--only airline,mnist]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

import dltour.data as data_pkg

BUDGET = 20_000_000
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "dltour" / "demo_data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--only", default="", help="comma-separated data modules to rebuild")
    args = ap.parse_args()
    if not args.shared.exists():
        print(f"{args.shared} not found: pass --shared DIR (the folder with airline/, mnist/, ...)", file=sys.stderr)
        return 2
    only = {s for s in args.only.split(",") if s}
    notices = []
    for mod in sorted(pkgutil.iter_modules(data_pkg.__path__), key=lambda m: m.name):
        m = importlib.import_module(f"dltour.data.{mod.name}")
        if not hasattr(m, "build_demo"):
            continue
        if not only or mod.name in only:
            files = m.build_demo(args.shared, DEMO)
            for f in files:
                print(f"{mod.name}: {f.relative_to(ROOT)} {f.stat().st_size / 1e6:.2f} MB")
        notices.append(f"## {mod.name}\n\n{(getattr(m, 'DEMO_NOTICE', '') or m.__doc__ or '').strip()}\n")
    (DEMO / "NOTICE.md").write_text("# Demo pack: sources and licences\n\nBuilt by `scripts/build_demo_pack.py` "
                                    "from the canonical datasets.\n\n" + "\n".join(notices))
    total = sum(f.stat().st_size for f in DEMO.rglob("*") if f.is_file())
    print(f"demo pack: {total / 1e6:.2f} MB (budget {BUDGET / 1e6:.0f} MB)")
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
