"""The SQLite ledger beside the runs: one row per run (status, timings, device, precision,
attempts, metrics).

It makes a sweep resumable and queryable. Only drivers write it (the ``dltour`` process that runs
the executor; workers write their run folders only), since SQLite on a network filesystem is not
safe with many writers. Several drivers on one machine may share a ledger: the database is in WAL
mode, every write is one short ``BEGIN IMMEDIATE`` transaction, and writers wait up to 60 s for
the lock instead of failing.
"""

from __future__ import annotations

import json
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
    status     TEXT NOT NULL,      -- running | finished | failed | interrupted
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
    attempts   INTEGER DEFAULT 0    -- times the run started computing (counted in its folder)
);
CREATE INDEX IF NOT EXISTS runs_study ON runs(study, status);
"""


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
                    cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
                    if "precision" not in cols:  # a ledger written before --precision existed
                        con.execute("ALTER TABLE runs ADD COLUMN precision TEXT")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

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

    def start(self, run_id: str, study: str, variant: str, seed: int, profile: str, device: str,
              precision: str, config: dict) -> None:
        """The driver hands the run to an executor: status ``running``."""
        with self._write() as con:
            con.execute(
                """INSERT INTO runs(run_id, study, variant, seed, profile, status, started, device, precision,
                                    config, attempts)
                   VALUES(?,?,?,?,?, 'running', ?,?,?,?, 0)
                   ON CONFLICT(run_id) DO UPDATE SET status='running', started=excluded.started,
                       profile=excluded.profile, error=NULL""",
                (run_id, study, variant, seed, profile, time.time(), device, precision,
                 json.dumps(config, default=str)),
            )

    def finish(self, run_id: str, metrics: dict, seconds: float, *, device: str = "", dtype: str = "",
               precision: str = "", versions: dict | None = None, attempts: int = 1,
               started: float | None = None) -> None:
        with self._write() as con:
            con.execute(
                """UPDATE runs SET status='finished', ended=?, seconds=?, metrics=?, device=?, dtype=?, precision=?,
                       versions=?, attempts=?, started=COALESCE(?, started), error=NULL WHERE run_id=?""",
                (time.time(), seconds, json.dumps(metrics), device, dtype, precision, json.dumps(versions or {}),
                 attempts, started, run_id),
            )

    def mark(self, run_id: str, status: str, error: str | None = None, attempts: int | None = None) -> None:
        """``failed`` or ``interrupted``, with the attempts so far (read from the run's folder)."""
        with self._write() as con:
            con.execute("UPDATE runs SET status=?, ended=?, error=?, attempts=COALESCE(?, attempts) WHERE run_id=?",
                        (status, time.time(), error, attempts, run_id))

    def record_reused(self, run_id: str, study: str, variant: str, seed: int, profile: str,
                      metrics: dict, config: dict) -> None:
        """A run found finished on disk but missing from this ledger (e.g. a copied out dir)."""
        with self._write() as con:
            con.execute(
                """INSERT OR IGNORE INTO runs(run_id, study, variant, seed, profile, status, metrics, config)
                   VALUES(?,?,?,?,?,'finished',?,?)""",
                (run_id, study, variant, seed, profile, json.dumps(metrics), json.dumps(config, default=str)),
            )

    def rows(self, study: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            if study:
                cur = con.execute("SELECT * FROM runs WHERE study=? ORDER BY variant, seed", (study,))
            else:
                cur = con.execute("SELECT * FROM runs ORDER BY study, variant, seed")
            out = []
            for r in cur.fetchall():
                d = dict(r)
                for k in ("versions", "config", "metrics"):
                    d[k] = json.loads(d[k]) if d[k] else None
                out.append(d)
            return out
