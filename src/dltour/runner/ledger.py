"""The SQLite ledger beside the runs: one row per run (status, owner, timings, device, precision,
attempts and the nodes they ran on, metrics).

It makes a sweep resumable and queryable. Only drivers write it (the ``dltour`` process that runs
the executor; workers write their run folders only), since SQLite on a network filesystem is not
safe with many writers. Several drivers on one machine may share a ledger: the database is in WAL
mode, every write is one short ``BEGIN IMMEDIATE`` transaction, and writers wait up to 60 s for
the lock instead of failing.

A run's status is a small state machine that every write checks (:data:`TRANSITIONS`)::

    (no row) -> pending -> running -> finished | failed | interrupted
    failed | interrupted -> pending          (the run is claimed again)
    anything not finished -> finished        (its metrics.json is on disk: the truth)

The driver that claims a run is its *owner* (``owner_pid``, ``owner_host``). A ``pending`` or
``running`` row whose owner is gone (same host, no such live process) is reported as ``stale``
by :meth:`Ledger.rows` and is reclaimed by the next driver that runs the same id; a row owned by
a live driver is left to it. A finished row is claimed again only with ``reclaim=True`` (its
folder lost ``metrics.json``). Any other change raises :class:`IllegalTransition`. An owner on
another host cannot be checked from here: its rows show as they are.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    study      TEXT NOT NULL,
    variant    TEXT NOT NULL,
    seed       INTEGER NOT NULL,
    profile    TEXT,
    status     TEXT NOT NULL,      -- pending | running | finished | failed | interrupted
    started    REAL,
    ended      REAL,
    seconds    REAL,
    device     TEXT,
    dtype      TEXT,
    precision  TEXT,              -- fp32 | bf16 (autocast)
    versions   TEXT,              -- JSON
    config     TEXT,              -- JSON
    metrics    TEXT,              -- JSON
    error      TEXT,
    attempts   INTEGER DEFAULT 0,   -- times the run started computing (counted in its folder)
    owner_pid  INTEGER,           -- the driver that claimed the run
    owner_host TEXT,
    nodes      TEXT               -- JSON: per attempt {attempt, host, node_id, pid, started}
);
CREATE INDEX IF NOT EXISTS runs_study ON runs(study, status);
"""

#: columns added after the first release, with their types: an older ledger gets them on open
ADDED_COLUMNS = {"precision": "TEXT", "owner_pid": "INTEGER", "owner_host": "TEXT", "nodes": "TEXT"}

STATUSES = ("pending", "running", "finished", "failed", "interrupted")
OPEN = ("pending", "running")
#: status -> the statuses a write may move it to (``None``: no row yet); ``finished`` is reached
#: from any status but itself being left, and a stale row (its owner gone) may be claimed again
TRANSITIONS: dict[str | None, tuple[str, ...]] = {
    None: ("pending", "finished"),
    "pending": ("running", "finished", "failed", "interrupted"),
    "running": ("finished", "failed", "interrupted"),
    "failed": ("pending", "finished"),
    "interrupted": ("pending", "finished"),
    "finished": ("finished",),
}


class IllegalTransition(RuntimeError):
    """A write that the run state machine forbids (a bug in the caller, not a user error)."""


def me() -> tuple[int, str]:
    """This process as an owner: (pid, host)."""
    return os.getpid(), platform.node()


def owner_alive(pid: int | None, host: str | None) -> bool | None:
    """True/False for an owner on this host; None when it cannot be told (another host). A row
    with no owner (written by an older dltour) counts as gone. A zombie (killed, not yet reaped)
    counts as gone."""
    if pid is None:
        return False
    if host != platform.node():
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # pragma: no mutate (signal 0 only asks; a mutated signal would hit a live process: mutmut itself)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # Linux: a zombie is a dead process its parent has not waited for yet
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A new database starts in rollback-journal mode; while another process holds its write
        # lock there, SQLite fails the switch to WAL at once ("database is locked") without calling
        # the busy handler, so wait and retry here (within the same 60 s as every other write).
        deadline = time.monotonic() + 60
        delay = 0.01
        while True:
            try:
                with self._connect() as con:
                    if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        con.execute("PRAGMA journal_mode=WAL")
                    con.executescript(SCHEMA)
                    self._migrate(con)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @staticmethod
    def _migrate(con) -> None:
        """Add the columns a ledger written by an older dltour lacks (``precision`` before
        --precision existed; the owner and the nodes before runs had states)."""
        cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in cols:
                try:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as e:  # another driver added it a moment ago
                    if "duplicate column" not in str(e):
                        raise

    @contextmanager
    def _connect(self):
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _write(self):
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------ the state machine
    @staticmethod
    def _row(con, run_id: str):
        return con.execute("SELECT status, owner_pid, owner_host FROM runs WHERE run_id=?", (run_id,)).fetchone()

    @staticmethod
    def _check(run_id: str, row, to: str, *, reclaim: bool = False) -> None:
        status = row["status"] if row is not None else None
        if to == "pending" and status in OPEN:
            return  # the caller checked the owner (itself, or gone)
        if to == "pending" and status == "finished" and reclaim:
            return
        if to not in TRANSITIONS.get(status, ()):
            raise IllegalTransition(f"run {run_id}: {status or 'no row'} -> {to} is not allowed"
                                    + (" (a finished run is claimed again only with reclaim=True)"
                                       if status == "finished" else ""))

    @staticmethod
    def _foreign(row) -> bool:
        """The row is open and owned by another live driver (or one on another host)."""
        if row is None or row["status"] not in OPEN:
            return False
        if (row["owner_pid"], row["owner_host"]) == me():
            return False
        return owner_alive(row["owner_pid"], row["owner_host"]) is not False

    def claim(self, run_id: str, study: str, variant: str, seed: int, profile: str, device: str,
              precision: str, config: dict, *, reclaim: bool = False) -> bool:
        """This driver is about to hand the run to an executor: status ``pending``, owned by this
        process. False (and nothing written) while another live driver owns the run: that one
        computes it, and this one waits on the run's lock and reuses the result. A stale row is
        taken over; ``reclaim``: also a finished one (its metrics are gone from its folder)."""
        pid, host = me()
        with self._write() as con:
            row = self._row(con, run_id)
            if self._foreign(row):
                return False
            self._check(run_id, row, "pending", reclaim=reclaim)
            con.execute(
                """INSERT INTO runs(run_id, study, variant, seed, profile, status, device, precision, config,
                                    attempts, owner_pid, owner_host)
                   VALUES(?,?,?,?,?, 'pending', ?,?,?, 0, ?,?)
                   ON CONFLICT(run_id) DO UPDATE SET status='pending', profile=excluded.profile,
                       device=excluded.device, precision=excluded.precision, config=excluded.config,
                       owner_pid=excluded.owner_pid, owner_host=excluded.owner_host, error=NULL, ended=NULL""",
                (run_id, study, variant, seed, profile, device, precision, json.dumps(config, default=str),
                 pid, host),
            )
        return True

    def running(self, run_id: str) -> None:
        """pending -> running: an executor has handed the run to a worker."""
        with self._write() as con:
            row = self._row(con, run_id)
            if self._foreign(row):
                return
            self._check(run_id, row, "running")
            pid, host = me()
            con.execute("UPDATE runs SET status='running', started=?, owner_pid=?, owner_host=? WHERE run_id=?",
                        (time.time(), pid, host, run_id))

    def start(self, run_id: str, study: str, variant: str, seed: int, profile: str, device: str,
              precision: str, config: dict) -> None:
        """Claim the run and mark it ``running`` at once (an executor that starts it right away)."""
        if self.claim(run_id, study, variant, seed, profile, device, precision, config):
            self.running(run_id)

    def finish(self, run_id: str, metrics: dict, seconds: float, *, device: str = "", dtype: str = "",
               precision: str = "", versions: dict | None = None, attempts: int = 1,
               started: float | None = None, nodes: list | None = None) -> None:
        """The run's metrics are on disk: ``finished`` (from any status: the folder is the truth)."""
        pid, host = me()
        with self._write() as con:
            self._check(run_id, self._row(con, run_id), "finished")
            con.execute(
                """UPDATE runs SET status='finished', ended=?, seconds=?, metrics=?, device=?, dtype=?, precision=?,
                       versions=?, attempts=?, started=COALESCE(?, started), error=NULL,
                       nodes=COALESCE(?, nodes), owner_pid=?, owner_host=? WHERE run_id=?""",
                (time.time(), seconds, json.dumps(metrics), device, dtype, precision, json.dumps(versions or {}),
                 attempts, started, json.dumps(nodes) if nodes is not None else None, pid, host, run_id),
            )

    def mark(self, run_id: str, status: str, error: str | None = None, attempts: int | None = None,
             nodes: list | None = None) -> bool:
        """``failed`` or ``interrupted``, with the attempts so far and the nodes they ran on (read
        from the run's folder). A row another live driver owns is left alone (False)."""
        if status not in ("failed", "interrupted"):
            raise IllegalTransition(f"run {run_id}: mark() sets failed or interrupted, not {status!r}")
        with self._write() as con:
            row = self._row(con, run_id)
            if self._foreign(row):
                return False
            self._check(run_id, row, status)
            con.execute("""UPDATE runs SET status=?, ended=?, error=?, attempts=COALESCE(?, attempts),
                               nodes=COALESCE(?, nodes) WHERE run_id=?""",
                        (status, time.time(), error, attempts, json.dumps(nodes) if nodes is not None else None,
                         run_id))
        return True

    def record_reused(self, run_id: str, study: str, variant: str, seed: int, profile: str,
                      metrics: dict, config: dict) -> None:
        """A run found finished on disk: a new row (e.g. a copied out dir), or an open or failed row
        moved to ``finished`` (another driver computed it, or this one died after writing its
        metrics and before recording them). A finished row stays as it is."""
        pid, host = me()
        with self._write() as con:
            row = self._row(con, run_id)
            if row is not None and row["status"] == "finished":
                return
            self._check(run_id, row, "finished")
            con.execute(
                """INSERT INTO runs(run_id, study, variant, seed, profile, status, metrics, config, ended,
                                    owner_pid, owner_host)
                   VALUES(?,?,?,?,?,'finished',?,?,?,?,?)
                   ON CONFLICT(run_id) DO UPDATE SET status='finished', metrics=excluded.metrics,
                       ended=excluded.ended, error=NULL, owner_pid=excluded.owner_pid,
                       owner_host=excluded.owner_host""",
                (run_id, study, variant, seed, profile, json.dumps(metrics), json.dumps(config, default=str),
                 time.time(), pid, host),
            )

    def rows(self, study: str | None = None) -> list[dict[str, Any]]:
        """Every run (of ``study``), its JSON columns decoded; an open row whose owner is gone has
        status ``stale`` (it is reclaimed by the next run of the same id)."""
        with self._connect() as con:
            if study:
                cur = con.execute("SELECT * FROM runs WHERE study=? ORDER BY variant, seed", (study,))
            else:
                cur = con.execute("SELECT * FROM runs ORDER BY study, variant, seed")
            out = []
            for r in cur.fetchall():
                d = dict(r)
                for k in ("versions", "config", "metrics", "nodes"):
                    d[k] = json.loads(d[k]) if d.get(k) else None
                if d["status"] in OPEN and owner_alive(d.get("owner_pid"), d.get("owner_host")) is False:
                    d["status"] = "stale"
                out.append(d)
            return out
