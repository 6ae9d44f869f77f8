"""`dltour.run` from a plain script with no `if __name__ == "__main__":` guard: the process pool's
spawned workers must not run the script again (which used to break the pool)."""

import subprocess
import sys
import textwrap

from dltour.runner.ledger import Ledger

SCRIPT = """
import sys
import dltour

doc = dltour.run("airline-lstm", profile="smoke", out=sys.argv[1], seeds=4, set={"epochs": 2}, device="cpu",
                 executor="process", workers=2, progress=False)
print("RUNS", doc["runs"])
"""


def test_script_without_main_guard(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("RUNS 8") == 1  # the script ran once, not once more per worker
    rows = Ledger(out / "ledger.sqlite").rows()
    assert len(rows) == 8 and {r["status"] for r in rows} == {"finished"}
    assert len({r["nodes"][0]["pid"] for r in rows}) >= 2  # computed by the pool's workers, not in the script


def test_guard_detection(tmp_path):
    from dltour.api import unguarded_main_call

    assert not unguarded_main_call()  # called from a test function: not __main__'s top level
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from dltour.api import unguarded_main_call\n"
            "def f():\n    return unguarded_main_call()\n"
            "print('top', f())\n"
            "if __name__ == '__main__':\n    print('guarded', f())\n") % sys.path[0]
    script = tmp_path / "s.py"
    script.write_text(code)
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["top True", "guarded False"]
