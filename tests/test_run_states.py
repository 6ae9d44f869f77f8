"""Run states as a state machine the ledger enforces (pending -> running -> finished | failed |
interrupted), owners and stale rows, old ledgers migrated, and every way a driver stops leaves no
run `running`: a worker killed in a process pool, SIGTERM to `dltour run`."""

import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from dltour import DltourError
from dltour.config import resolve_config
from dltour.runner.executors import ProcessExecutor
from dltour.runner.ledger import IllegalTransition, Ledger
from dltour.registry import get_study
from dltour.runner.driver import run_study

STUDY = get_study("airline-lstm")


def _claim(led, rid="r", **kw):
    return led.claim(rid, "s", "v", 0, "smoke", "cpu", "fp32", {}, **kw)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_transitions_are_enforced(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(IllegalTransition):
        led.running("r")  # no row: it must be claimed first
    assert _claim(led)
    assert [r["status"] for r in led.rows()] == ["pending"]
    row = led.rows()[0]
    assert (row["owner_pid"], row["owner_host"]) == (os.getpid(), platform.node())
    led.running("r")
    with pytest.raises(IllegalTransition):
        led.running("r")  # running -> running
    led.finish("r", {"m": 1.0}, 1.0, nodes=[{"attempt": 1, "host": "h", "node_id": None}])
    assert led.rows()[0]["status"] == "finished" and led.rows()[0]["nodes"][0]["host"] == "h"
    for bad in (lambda: led.running("r"), lambda: led.mark("r", "failed"), lambda: led.mark("r", "interrupted"),
                lambda: _claim(led)):
        with pytest.raises(IllegalTransition):
            bad()
    assert _claim(led, reclaim=True)  # finished -> pending only as an explicit reclaim
    led.running("r")
    led.mark("r", "failed", "boom")
    assert led.rows()[0]["status"] == "failed"
    assert _claim(led)  # failed -> pending
    led.mark("r", "interrupted")
    assert _claim(led)  # interrupted -> pending
    with pytest.raises(IllegalTransition):
        led.mark("r", "running")


def test_mark_records_the_attempts_nodes_and_keeps_them_when_not_given(tmp_path):
    """mark() writes the nodes it is given (read back as data) and, given none, keeps the row's
    (mutation survivors of session 30: the nodes dropped, or overwritten with null)."""
    led = Ledger(tmp_path / "ledger.sqlite")
    assert _claim(led)
    led.running("r")
    nodes = [{"attempt": 1, "host": "h1", "node_id": None}, {"attempt": 2, "host": "h2", "node_id": "n"}]
    assert led.mark("r", "failed", "boom", attempts=2, nodes=nodes) is True  # marked (False: another owner's row)
    row = led.rows()[0]
    assert (row["status"], row["error"], row["attempts"], row["nodes"]) == ("failed", "boom", 2, nodes)
    assert _claim(led)
    led.mark("r", "interrupted")  # no attempts, no nodes: the row keeps its own
    row = led.rows()[0]
    assert (row["status"], row["attempts"], row["nodes"]) == ("interrupted", 2, nodes)


def test_an_illegal_mark_names_the_run_and_the_transition(tmp_path):
    """The one line a user sees says which run and which move was refused (mutation survivors of
    session 30: mark()'s messages without the run id)."""
    led = Ledger(tmp_path / "ledger.sqlite")
    assert _claim(led, "run-7")
    with pytest.raises(IllegalTransition, match=r"^run run-7: mark\(\) sets failed or interrupted, not 'running'$"):
        led.mark("run-7", "running")
    led.running("run-7")
    led.finish("run-7", {"m": 1.0}, 1.0)
    with pytest.raises(IllegalTransition, match=r"^run run-7: finished -> failed is not allowed"):
        led.mark("run-7", "failed")


def test_stale_owner_is_reported_and_reclaimed(tmp_path):
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led, "dead")
    led.running("dead")
    _claim(led, "alive")
    with sqlite3.connect(path) as con:  # hand the rows to other processes: one gone, one alive
        con.execute("UPDATE runs SET owner_pid=? WHERE run_id='dead'", (_dead_pid(),))
        con.execute("UPDATE runs SET owner_pid=? WHERE run_id='alive'", (os.getppid(),))
    status = {r["run_id"]: r["status"] for r in led.rows()}
    assert status == {"dead": "stale", "alive": "pending"}
    assert not _claim(led, "alive") and not led.mark("alive", "interrupted")  # a live driver's run is left to it
    assert _claim(led, "dead")  # the stale run is taken over
    row = {r["run_id"]: r for r in led.rows()}["dead"]
    assert row["status"] == "pending" and row["owner_pid"] == os.getpid()


def test_old_ledger_gets_the_new_columns(tmp_path):
    path = tmp_path / "ledger.sqlite"
    con = sqlite3.connect(path)
    con.execute("""CREATE TABLE runs (run_id TEXT PRIMARY KEY, study TEXT NOT NULL, variant TEXT NOT NULL,
                   seed INTEGER NOT NULL, profile TEXT, status TEXT NOT NULL, started REAL, ended REAL, seconds REAL,
                   device TEXT, dtype TEXT, versions TEXT, config TEXT, metrics TEXT, error TEXT,
                   attempts INTEGER DEFAULT 0)""")
    con.execute("INSERT INTO runs(run_id, study, variant, seed, status) VALUES('old', 's', 'v', 0, 'running')")
    con.execute("INSERT INTO runs(run_id, study, variant, seed, status, metrics) VALUES('ok', 's', 'v', 1, "
                "'finished', '{\"m\": 2.0}')")
    con.commit()
    con.close()
    led = Ledger(path)
    rows = {r["run_id"]: r for r in led.rows()}
    assert rows["old"]["status"] == "stale"  # no owner recorded: nobody is computing it
    assert rows["ok"]["status"] == "finished" and rows["ok"]["precision"] is None and rows["ok"]["nodes"] is None
    assert _claim(led, "old")


def _cfg(**kw):
    return resolve_config(STUDY, "smoke", {"windows": [1, 12], "seeds": 2, **kw})


def test_pool_whose_worker_dies_leaves_no_run_running(tmp_path, monkeypatch):
    """Each run SIGKILLs its worker after its epoch-10 checkpoint (once): the pool breaks, the
    driver says so in one line and records every unfinished run interrupted; repeated, every run
    resumes and finishes, with its attempts and the node they ran on in the ledger and folder."""
    cfg = _cfg(epochs=30)
    monkeypatch.setenv("DLTOUR_TEST_KILL_AT_EPOCH", "10")
    with pytest.raises(DltourError, match="worker process died.*interrupted.*repeat the command"):
        run_study(STUDY, cfg, "smoke", tmp_path, ProcessExecutor(2), "cpu", progress=False, log=lambda s: None)
    rows = Ledger(tmp_path / "ledger.sqlite").rows()
    assert len(rows) == 4
    assert {r["status"] for r in rows} <= {"interrupted", "finished"}, rows
    assert "interrupted" in {r["status"] for r in rows}
    monkeypatch.delenv("DLTOUR_TEST_KILL_AT_EPOCH")
    for _ in range(3):  # a second run may hit another run's first kill point
        try:
            run_study(STUDY, cfg, "smoke", tmp_path, ProcessExecutor(2), "cpu", progress=False, log=lambda s: None)
            break
        except DltourError:
            continue
    rows = Ledger(tmp_path / "ledger.sqlite").rows()
    assert [r["status"] for r in rows] == ["finished"] * 4
    for r in rows:
        run_dir = tmp_path / "runs" / "airline-lstm" / r["run_id"]
        nodes = json.loads((run_dir / "nodes.json").read_text())
        assert len(nodes) == r["attempts"] == len(r["nodes"]) >= 1
        assert {n["host"] for n in r["nodes"]} == {platform.node()} and r["nodes"][0]["node_id"] is None


def test_sigterm_to_the_driver_records_interrupted(tmp_path):
    """SIGTERM to `dltour run` with a process pool: the workers are stopped, the driver exits by
    SIGTERM, and every run is interrupted (or finished), none left running or pending."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "dltour.cli", "run", "airline-lstm", "--profile", "smoke", "--device", "cpu",
            "--executor", "process", "--workers", "2", "--set", "windows=[1,12]", "--set", "seeds=2",
            "--set", "epochs=20000", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("runs/airline-lstm/*/nodes.json"))) < 2:
        time.sleep(0.2)  # both workers have started a run
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, err
    rows = Ledger(out / "ledger.sqlite").rows()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"interrupted"}, rows
    attempts = [json.loads(p.read_text()) for p in out.glob("runs/airline-lstm/*/nodes.json")]
    assert len(attempts) == 2  # two ran (one per worker), two never started
    time.sleep(1)
    workers = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout.split()
    assert not workers  # no worker left computing


def test_pooled_runs_bar_only_on_a_terminal(tmp_path, monkeypatch):
    """A pooled executor's runs: a rich bar with the time left when stderr is a terminal, the
    line per finished run otherwise."""
    from dltour.runner.execute import Recorder, RunOutcome
    from dltour.runner.plan import Job, RunPlan

    lines = []
    rec = Recorder(tmp_path, log=lines.append)
    plan = RunPlan("cartpole-td", {}, "smoke", str(tmp_path))
    jobs = [Job(plan, "v", i, f"r{i}") for i in range(2)]
    for led in (rec.ledger,):
        led.claim("r0", "cartpole-td", "v", 0, "smoke", "cpu", "fp32", {})
        led.claim("r1", "cartpole-td", "v", 1, "smoke", "cpu", "fp32", {})
    rec.finished(jobs[0], RunOutcome("r0", "v", 0, False, 0.5, {"m": 1.0}, "cartpole-td"), (1, 2))
    assert lines == ["[1/2] cartpole-td/v/seed0: 0.5 s"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    rec.finished(jobs[1], RunOutcome("r1", "v", 1, False, 0.5, {"m": 1.0}, "cartpole-td"), (2, 2))
    assert len(lines) == 1 and rec._bar is None  # shown on the bar, which closed at the last run
    assert [r["status"] for r in rec.ledger.rows()] == ["finished", "finished"]


def test_owner_alive_tells_live_zombie_and_gone_owners_without_signalling_them():
    """The stale-row check (found by the mutation run: signal 0 -> 1 and the zombie test survived):
    a live owner is alive and is not disturbed, a zombie (exited, not yet reaped) and a reaped
    process are gone, another host cannot be told."""
    from dltour.runner.ledger import owner_alive

    host = platform.node()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert owner_alive(live.pid, host) is True
        time.sleep(0.2)
        assert live.poll() is None  # still running: probing it sent no signal that ends it (SIGHUP would)
    finally:
        live.kill()
        live.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while time.time() < deadline:  # exited but not waited for: a zombie
        try:
            if open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    try:
        assert owner_alive(zombie.pid, host) is False
    finally:
        zombie.wait()
    assert owner_alive(zombie.pid, host) is False  # reaped
    assert owner_alive(os.getpid(), host) is True and owner_alive(None, host) is False
    assert owner_alive(os.getpid(), host + "-elsewhere") is None


def test_start_records_the_profile_device_and_precision(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.start("r", "s", "v", 0, "smoke", "cpu", "fp32", {"a": 1})
    row = led.rows()[0]
    assert (row["status"], row["profile"], row["device"], row["precision"]) == ("running", "smoke", "cpu", "fp32")
    assert row["config"] == {"a": 1}


def test_owner_alive_reads_the_state_after_the_last_parenthesis(tmp_path):
    """/proc/PID/stat is "pid (name) state ...", and the name may hold ')' and spaces: a live
    process named "x) Z y" must not be read as the zombie its name seems to say."""
    from dltour.runner.ledger import owner_alive

    odd = tmp_path / "x) Z y"
    odd.symlink_to(sys.executable)
    live = subprocess.Popen([str(odd), "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.time() + 30
        while time.time() < deadline and ") Z y)" not in open(f"/proc/{live.pid}/stat").read():
            time.sleep(0.05)  # the name is set once the interpreter has been exec'd
        assert ") Z y)" in open(f"/proc/{live.pid}/stat").read()
        assert owner_alive(live.pid, platform.node()) is True
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("error,want", [(PermissionError, True), (ProcessLookupError, False), (OSError, False)])
def test_owner_alive_when_the_probe_is_refused(monkeypatch, error, want):
    """What the probe's errors mean (mutation run, this session): not allowed to signal it, so it
    exists (alive); no such process, or any other failure to probe it: gone."""
    from dltour.runner import ledger

    def refuse(pid, sig):
        raise error("probe")

    monkeypatch.setattr(ledger.os, "kill", refuse)
    assert ledger.owner_alive(os.getpid() + 1, platform.node()) is want


@pytest.mark.parametrize("stat,want", [("7 (a) S 1", True), ("7 (a) R 1", True), ("7 (a) Z 1", False),
                                       ("7 (a) X 1", False), ("7 (a) x 1", True), (OSError, True), ("7 (a)", True)])
def test_owner_alive_by_the_process_state(monkeypatch, stat, want):
    """A zombie (Z) or dead (X) process is gone; any other state, or a stat that cannot be read or
    parsed (not Linux), counts as alive: a live owner must never be taken for gone."""
    from dltour.runner import ledger

    monkeypatch.setattr(ledger.os, "kill", lambda pid, sig: None)

    def read(self, *a, **k):
        if stat is OSError:
            raise OSError("no /proc")
        return stat

    monkeypatch.setattr(ledger.Path, "read_text", read)
    assert ledger.owner_alive(os.getpid() + 1, platform.node()) is want


SIGTERM_WHILE_RESTORING = r'''
import signal, sys
from dltour.runner import driver
real, landed = signal.signal, []
def spy(sig, handler):
    # the SIGTERM lands just as the driver puts its caller's handler back, after the work ended: the
    # driver's own handler is still the one Python calls
    if sig == signal.SIGTERM and handler is signal.SIG_DFL and not landed:
        landed.append(1)
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    return real(sig, handler)
signal.signal = spy
with driver._driver_signals():
    pass
print("returned", landed)
'''


def test_sigterm_as_the_driver_restores_its_handlers_exits_by_sigterm():
    """A SIGTERM that lands after the work ended, while the handlers are put back, exits the way the
    caller's handler says (killed by SIGTERM), not as an error escaping the driver (the seeded-kills
    test once saw such a driver end with exit status 3)."""
    p = subprocess.run([sys.executable, "-c", SIGTERM_WHILE_RESTORING], capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGTERM, (p.returncode, p.stdout, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "returned" not in p.stdout


SIGNAL_SWALLOWED_BY_CPP = r'''
import signal, sys
from dltour.runner import driver
from dltour.runner.execute import stop_requested
sig = getattr(signal, sys.argv[1])
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a pytest-xdist worker ignores SIGINT)
called = []
if sys.argv[2] == "handler":
    signal.signal(signal.SIGTERM, lambda s, f: called.append(s))
try:
    with driver._driver_signals():
        try:
            signal.raise_signal(sig)
        except KeyboardInterrupt:  # what pybind11 does when a conversion is cut short by the handler's exception
            raise TypeError("affine_transform(): incompatible function arguments")
except BaseException as e:
    print(type(e).__name__, type(e.__cause__).__name__, [int(s) for s in called], stop_requested())
'''


@pytest.mark.parametrize("sig,caller,want", [
    ("SIGTERM", "default", None),  # exits by SIGTERM, as an uninterrupted SIGTERM does
    ("SIGTERM", "handler", "Terminated TypeError [15] None"),  # the caller's handler ran; a Terminated escapes
    ("SIGINT", "default", "KeyboardInterrupt TypeError [] None"),
])
def test_a_stop_signal_replaced_by_another_exception_still_stops_the_driver(sig, caller, want):
    """The seeded-kills test saw a SIGTERM land inside matplotlib: its exception came out of the C++
    code as a TypeError ("incompatible function arguments"), "Invalid bounding box" or "ImportError:
    initialization failed", and the driver ended with exit status 3 as for a bug. Whatever escapes
    once a stop signal has arrived is that stop."""
    p = subprocess.run([sys.executable, "-c", SIGNAL_SWALLOWED_BY_CPP, sig, caller], capture_output=True,
                       text=True, timeout=120)
    if want is None:
        assert p.returncode == -signal.SIGTERM, (p.returncode, p.stdout, p.stderr[-2000:])
        assert p.stdout == ""
    else:
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.strip() == want


def test_a_run_ended_by_a_replaced_stop_signal_is_interrupted_not_failed(tmp_path, monkeypatch):
    """A run whose interruption came back as another exception is recorded ``interrupted`` (and its
    trace is not kept as a failure's)."""
    from dltour.runner import execute, executors

    recorded = []

    class Rec:
        def claim(self, jobs): pass
        def started(self, job): pass
        def failed(self, job, why, status="failed"): recorded.append((status, why))
        def release(self, why): pass

    class Job:
        def finished(self): return False
        plan, variant, seed = None, "v", 0

    def boom(*a):
        execute.set_stop_requested(signal.SIGTERM)
        raise TypeError("incompatible function arguments")

    monkeypatch.setattr(executors, "execute_run", boom)
    try:
        with pytest.raises(TypeError):
            list(executors.LocalExecutor().map_runs([Job()], Rec()))
    finally:
        execute.set_stop_requested(None)
    assert recorded == [("interrupted", None)]
    monkeypatch.setattr(executors, "execute_run", lambda *a: (_ for _ in ()).throw(TypeError("a bug")))
    recorded.clear()
    with pytest.raises(TypeError):
        list(executors.LocalExecutor().map_runs([Job()], Rec()))
    assert recorded[0][0] == "failed" and "a bug" in recorded[0][1]
