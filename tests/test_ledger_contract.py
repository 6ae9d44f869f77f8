"""What each ledger write stores and what ``rows`` gives back, column by column (issue 23, item 7).

``test_run_states.py`` checks the state machine; these check the values a write leaves in the row
(a claim that clears the last error, a finish that keeps the start time it is not given, the rows
of one study in order), whose mutants a state-only test lets through.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import time

import pytest

from dltour.runner import ledger as L
from dltour.runner.ledger import IllegalTransition, Ledger

ME = (os.getpid(), platform.node())


def _claim(led, rid="r", study="s", variant="v", seed=0, **kw):
    return led.claim(rid, study, variant, seed, kw.pop("profile", "smoke"), kw.pop("device", "cpu"),
                     kw.pop("precision", "fp32"), kw.pop("config", {}), **kw)


def _row(led, rid="r"):
    return {r["run_id"]: r for r in led.rows()}[rid]


def _set_owner(path, rid, pid, host=None):
    with sqlite3.connect(path) as con:
        con.execute("UPDATE runs SET owner_pid=?, owner_host=? WHERE run_id=?", (pid, host or platform.node(), rid))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_new_ledger_is_in_wal_mode_with_its_folder_made(tmp_path):
    path = tmp_path / "deep" / "er" / "ledger.sqlite"
    Ledger(path)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    assert set(L.ADDED_COLUMNS) <= cols


def test_a_ledger_that_cannot_open_fails_at_once_not_after_the_lock_wait(tmp_path):
    (tmp_path / "ledger.sqlite").mkdir()  # a folder where the database should be: not a lock to wait for
    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        Ledger(tmp_path / "ledger.sqlite")
    assert time.monotonic() - t0 < 5


class _Con:
    """A connection whose ALTER TABLE fails with ``error``; PRAGMA table_info lists no column."""

    def __init__(self, error):
        self.error, self.altered = error, []

    def execute(self, sql):
        if sql.startswith("PRAGMA"):
            return []
        self.altered.append(sql)
        raise sqlite3.OperationalError(self.error)


def test_migrate_tolerates_a_column_another_driver_just_added_and_nothing_else():
    con = _Con("duplicate column name: precision")
    Ledger._migrate(con)  # every ALTER races with another driver: fine
    assert con.altered == [f"ALTER TABLE runs ADD COLUMN {n} {k}" for n, k in L.ADDED_COLUMNS.items()]
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        Ledger._migrate(_Con("disk I/O error"))


def test_claim_writes_the_run_owned_by_this_process_with_no_attempts_yet(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    assert _claim(led, "r", "airline-lstm", "w12", 3, profile="demo", device="cpu", precision="bf16",
                  config={"epochs": 5, "path": tmp_path}) is True
    row = _row(led)
    assert (row["study"], row["variant"], row["seed"], row["profile"], row["status"]) == \
        ("airline-lstm", "w12", 3, "demo", "pending")
    assert (row["device"], row["precision"], row["attempts"]) == ("cpu", "bf16", 0)
    assert row["config"] == {"epochs": 5, "path": str(tmp_path)}  # paths stored as text
    assert (row["owner_pid"], row["owner_host"]) == ME
    assert row["started"] is None and row["ended"] is None and row["error"] is None


def test_claiming_a_failed_run_again_clears_its_error_and_end_and_takes_the_new_settings(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    _claim(led)
    led.running("r")
    led.mark("r", "failed", "CUDA out of memory", attempts=2)
    assert _row(led)["ended"] is not None
    assert _claim(led, profile="full", device="cuda:0", precision="bf16", config={"batch": 32})
    row = _row(led)
    assert row["status"] == "pending" and row["error"] is None and row["ended"] is None
    assert (row["profile"], row["device"], row["precision"], row["config"]) == ("full", "cuda:0", "bf16", {"batch": 32})
    assert row["attempts"] == 2  # counted in the run's folder: kept


def test_running_stamps_the_start_and_the_owner(tmp_path):
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led)
    _set_owner(path, "r", _dead_pid())  # claimed by a driver that died: this one takes it over
    t0 = time.time()
    led.running("r")
    row = _row(led)
    assert row["status"] == "running" and t0 <= row["started"] <= time.time()
    assert (row["owner_pid"], row["owner_host"]) == ME


def test_running_leaves_a_live_foreign_drivers_run_alone(tmp_path):
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led)
    _set_owner(path, "r", os.getppid())  # a live process on this host
    led.running("r")
    row = _row(led)
    assert row["status"] == "pending" and row["owner_pid"] == os.getppid() and row["started"] is None


def test_a_run_owned_on_another_host_is_foreign_and_shown_as_it_is(tmp_path):
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led)
    _set_owner(path, "r", 1, host="another-host")
    assert _row(led)["status"] == "pending"  # cannot be told stale from here
    assert _claim(led) is False and led.mark("r", "failed") is False
    assert _row(led)["owner_host"] == "another-host"


def test_a_closed_run_is_never_foreign(tmp_path):
    """A failed row owned by a live driver elsewhere is claimed: only open rows have an owner at work."""
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led)
    led.mark("r", "failed", "boom")
    _set_owner(path, "r", os.getppid())
    assert _claim(led) is True and _row(led)["owner_pid"] == os.getpid()


def test_finish_records_everything_and_keeps_the_start_it_is_not_given(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    _claim(led)
    led.running("r")
    started = _row(led)["started"]
    nodes = [{"attempt": 1, "host": "h", "node_id": None}]
    led.finish("r", {"rmse": 21.5}, 12.5, device="cpu", dtype="float32", precision="fp32",
               versions={"torch": "2.14.1"}, attempts=3, nodes=nodes)
    row = _row(led)
    assert (row["status"], row["metrics"], row["seconds"], row["device"], row["dtype"], row["precision"]) == \
        ("finished", {"rmse": 21.5}, 12.5, "cpu", "float32", "fp32")
    assert (row["versions"], row["attempts"], row["nodes"], row["error"]) == ({"torch": "2.14.1"}, 3, nodes, None)
    assert row["started"] == started and row["ended"] >= started
    # finished again (a recomputed run) with an explicit start and no nodes: the start is taken, the nodes kept
    led.finish("r", {"rmse": 20.0}, 1.0, started=123.0)
    row = _row(led)
    assert (row["started"], row["nodes"], row["versions"], row["attempts"]) == (123.0, nodes, {}, 1)


def test_finish_clears_the_error_of_a_failed_run_and_takes_the_ownership(tmp_path):
    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _claim(led)
    led.mark("r", "failed", "boom")
    _set_owner(path, "r", 1, host="another-host")
    led.finish("r", {"m": 1.0}, 1.0)  # the folder is the truth
    row = _row(led)
    assert row["error"] is None and (row["owner_pid"], row["owner_host"]) == ME


def test_record_reused_adds_a_finished_row_and_leaves_a_finished_one_alone(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    led.record_reused("copied", "s", "v", 1, "demo", {"m": 2.0}, {"k": 1})
    row = _row(led, "copied")
    assert (row["status"], row["metrics"], row["config"], row["profile"], row["seed"]) == \
        ("finished", {"m": 2.0}, {"k": 1}, "demo", 1)
    assert row["ended"] is not None and (row["owner_pid"], row["owner_host"]) == ME
    led.record_reused("copied", "s", "v", 1, "demo", {"m": 99.0}, {"k": 1})
    assert _row(led, "copied")["metrics"] == {"m": 2.0}
    _claim(led, "f")
    led.mark("f", "failed", "boom")
    led.record_reused("f", "s", "v", 0, "smoke", {"m": 3.0}, {})
    row = _row(led, "f")
    assert (row["status"], row["metrics"], row["error"]) == ("finished", {"m": 3.0}, None)


def test_rows_of_one_study_in_variant_and_seed_order_with_json_decoded(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite")
    for rid, study, variant, seed in [("a", "s2", "v", 0), ("b", "s1", "w", 0), ("c", "s1", "v", 2),
                                      ("d", "s1", "v", 1)]:
        _claim(led, rid, study, variant, seed, config={"id": rid})
    assert [r["run_id"] for r in led.rows("s1")] == ["d", "c", "b"]
    assert [r["run_id"] for r in led.rows()] == ["d", "c", "b", "a"]
    assert led.rows("none") == []
    row = led.rows("s2")[0]
    assert row["config"] == {"id": "a"} and row["metrics"] is None and row["versions"] is None and row["nodes"] is None


def test_check_allows_exactly_the_declared_transitions():
    """_check against TRANSITIONS for every (from, to), plus the two pending exceptions."""
    for status in (None, *L.STATUSES):
        row = None if status is None else {"status": status}
        for to in L.STATUSES:
            allowed = to in L.TRANSITIONS[status] or (to == "pending" and status in L.OPEN)
            if allowed:
                Ledger._check("x", row, to)
            else:
                with pytest.raises(IllegalTransition, match=rf"^run x: {status or 'no row'} -> {to} is not allowed"):
                    Ledger._check("x", row, to)
    Ledger._check("x", {"status": "finished"}, "pending", reclaim=True)
    with pytest.raises(IllegalTransition, match=r"claimed again only with reclaim=True\)$"):
        Ledger._check("x", {"status": "finished"}, "pending")
    with pytest.raises(IllegalTransition) as e:
        Ledger._check("x", {"status": "failed"}, "running")
    assert "reclaim" not in str(e.value)
