"""Faults from a seeded schedule: a driver (`run_study` with the local executor, in its own
process) is killed with SIGKILL or SIGTERM at a random moment, then the same command is repeated
on the same --out, round after round. After every round: no run is `running` without a live owner
(a killed driver's runs are `stale`, a terminated one's `interrupted`), and every run the ledger
calls finished has every file of an uninterrupted run, with the same metrics (timings aside) and history. When a
round ends on its own, its summary equals the uninterrupted one and a fresh --out starts.

The drivers are forked from one helper process that has imported torch and dltour once (a fresh
interpreter per round would spend seconds importing), so each kill point costs a fraction of a
second. A worker killed inside a process pool is tested in tests/test_run_states.py."""

import json
import subprocess
import sys
import textwrap

HELPER = r'''
import json, os, random, signal, sys, time
import torch
torch.set_num_threads(1)
from dltour.config import resolve_config
from dltour.runner.executors import LocalExecutor
from dltour.runner.ledger import Ledger
from dltour.registry import get_study
from dltour.runner.driver import run_study

root, want, cap, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
STUDY = get_study("cartpole-td")  # the cheapest study: its smoke profile is 4 runs of 40 episodes
CFG = resolve_config(STUDY, "smoke")
import matplotlib.pyplot, scipy.stats, dltour.plots, dltour.verdicts, dltour.summary  # noqa: E401,F401 (once, not per round)
SKIP = {".lock", "attempts", "nodes.json", "checkpoint.pt", ".test-killed"}  # per attempt, not per result


def drive(out):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run_study(STUDY, CFG, "smoke", out, LocalExecutor(threads=1), "cpu", progress=False, log=lambda s: None)
        except BaseException:  # what escaped, for the problem line
            import traceback
            with open(os.path.join(root, f"exc-{os.getpid()}.txt"), "w") as f:
                f.write(traceback.format_exc())
            code = 3
        os._exit(code)
    return pid


def timing(k):
    return "per_s" in k or "seconds" in k  # a measured speed differs from one run to the next


def canonical(metrics):
    """Metrics without the timings, as text (so NaN equals NaN)."""
    return json.dumps({k: v for k, v in metrics.items() if not timing(k)}, sort_keys=True)


def folder(out, rid):
    d = os.path.join(out, "runs", STUDY.name, rid)
    files = {f: open(os.path.join(d, f), "rb").read() for f in os.listdir(d) if f not in SKIP and not f.startswith(".")}
    if "metrics.json" in files:
        files["metrics.json"] = canonical(json.loads(files["metrics.json"]))
    return files


def summary_metrics(out):
    doc = json.load(open(os.path.join(out, STUDY.name, "summary.json")))
    return json.dumps({v: {k: m for k, m in ms.items() if not timing(k)} for v, ms in doc["metrics"].items()},
                      sort_keys=True)


ref = os.path.join(root, "reference")
t0 = time.perf_counter()
pid = drive(ref)
assert os.waitpid(pid, 0)[1] == 0
T = time.perf_counter() - t0
REF = {r["run_id"]: folder(ref, r["run_id"]) for r in Ledger(os.path.join(ref, "ledger.sqlite")).rows()}
REF_SUMMARY = summary_metrics(ref)

rng = random.Random(seed)
problems, kills, cycles, n = [], 0, 0, 0
out = os.path.join(root, f"cycle{cycles}")
stale_before = set()
rnd = -1
while kills < want and rnd < cap:
    rnd += 1
    sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
    # within the work left: the runs not finished yet (their share of T), then the summary
    path = os.path.join(out, "ledger.sqlite")
    done = sum(r["status"] == "finished" for r in Ledger(path).rows()) if os.path.exists(path) else 0
    delay = rng.uniform(0, T * (0.4 + 0.6 * (1 - done / len(REF))))
    spare = rng.random() < 0.2  # one round in five is left to finish: the command must get through
    pid = drive(out)
    if not spare:
        time.sleep(delay)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    ended = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig and not spare
    if not (ended or killed):
        exc = os.path.join(root, f"exc-{pid}.txt")
        why = open(exc).read().strip().splitlines()[-1] if os.path.exists(exc) else ""
        problems.append(f"round {rnd}: driver ended with status {status} ({why})")
    kills += killed
    path = os.path.join(out, "ledger.sqlite")
    rows = Ledger(path).rows() if os.path.exists(path) else []
    where = f"round {rnd} (" + ("no kill" if spare else f"{signal.Signals(sig).name} at {delay:.2f}s of {T:.2f}s") + ")"
    for r in rows:
        if r["status"] in ("running", "pending"):
            problems.append(f"{where}: {r['variant']} is {r['status']} with its driver gone")
        if sig == signal.SIGTERM and killed and r["status"] == "stale" and r["run_id"] not in stale_before:
            problems.append(f"{where}: {r['variant']} was left stale by a terminated driver")
        if r["status"] == "finished":
            got = folder(out, r["run_id"])
            if got != REF[r["run_id"]]:
                diff = sorted(k for k in set(got) | set(REF[r["run_id"]]) if got.get(k) != REF[r["run_id"]].get(k))
                problems.append(f"{where}: finished {r['variant']} differs from the uninterrupted run in {diff}")
    stale_before = {r["run_id"] for r in rows if r["status"] == "stale"}
    if ended:  # the command went through: its summary is the uninterrupted one's
        if summary_metrics(out) != REF_SUMMARY:
            problems.append(f"round {rnd}: summary differs from the uninterrupted one")
        if [r["status"] for r in rows] != ["finished"] * len(REF):
            problems.append(f"round {rnd}: the command ended with {[r['status'] for r in rows]}")
        cycles += 1
        out = os.path.join(root, f"cycle{cycles}")
        stale_before = set()
print(json.dumps({"problems": problems, "kills": kills, "cycles": cycles, "reference_seconds": T}))
'''


def test_seeded_kills_of_the_driver(tmp_path):
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(HELPER), str(tmp_path), "55", "200", "20261205"],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["problems"] == [], res
    assert res["kills"] >= 50, res  # at least 50 seeded kill points landed while a driver was working
    assert res["cycles"] >= 2, res  # and the interrupted commands were carried to the end more than once
