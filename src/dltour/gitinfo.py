"""The commit of the dltour checkout this code runs from, without importing torch (``dltour
--version`` and the ledger and report use it)."""

from __future__ import annotations

from pathlib import Path


def git_commit() -> str:
    """The short commit of the dltour checkout this code runs from (``+dirty`` with local changes to
    tracked files); "unknown ..." outside a git checkout (an installed wheel)."""
    import subprocess  # nosec B404  # fixed git argv only, no shell

    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,  # nosec B603 B607  # constant git argv, no shell
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,  # nosec B603 B607  # constant git argv, no shell
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "") if res.returncode == 0 else "unknown (not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
