"""The embedded SQLite store: module registry, array parameters, jobs, progress, results.

Every finished unit of a job is written as soon as it is done, so a killed server loses at
most the unit in flight. One connection guarded by a lock; WAL journal.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sasc.errors import ConfigError, NotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS modules (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, display_name TEXT NOT NULL,
  params TEXT NOT NULL, units TEXT NOT NULL, fingerprint TEXT NOT NULL, array_bytes INTEGER NOT NULL,
  created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS modules_owner ON modules(owner);
CREATE TABLE IF NOT EXISTS module_arrays (
  module_id TEXT NOT NULL, name TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (module_id, name));
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, owner TEXT NOT NULL, module_id TEXT NOT NULL, spec TEXT NOT NULL,
  spec_hash TEXT NOT NULL, idempotency_key TEXT, state TEXT NOT NULL, progress TEXT NOT NULL,
  error_code TEXT NOT NULL DEFAULT '', error_message TEXT NOT NULL DEFAULT '', result TEXT,
  resumed INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
  UNIQUE (owner, idempotency_key));
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner);
CREATE TABLE IF NOT EXISTS job_units (
  job_id TEXT NOT NULL, col INTEGER NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (job_id, col));
"""

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ModuleRecord:
    """A registered module as stored (the bank itself is rebuilt from it on demand)."""

    id: str
    """Module id."""
    owner: str
    """Client that registered it."""
    kind: str
    """Registered kind name."""
    display_name: str
    """Readable name."""
    params: dict[str, Any]
    """JSON keyword parameters of the kind's factory (arrays excluded)."""
    units: list[str]
    """Unit names."""
    fingerprint: str
    """Content identity ('' when uncacheable)."""
    array_bytes: int = 0
    """Bytes of array parameters."""
    created_at: float = field(default_factory=time.time)
    """Seconds since the epoch."""
    hosted: bool = False
    """Client-hosted (never stored; lives while its stream is open)."""


@dataclass(frozen=True)
class JobRecord:
    """A job as stored."""

    id: str
    """Job id."""
    owner: str
    """Client that submitted it."""
    module_id: str
    """Module explained."""
    spec: dict[str, Any]
    """The submitted request (see :class:`server.jobs.JobSpec`) as JSON."""
    spec_hash: str
    """sha256 of ``spec``; an idempotency key must come back with the same hash."""
    idempotency_key: str | None = None
    """Client-chosen key (None: none)."""
    state: str = "queued"
    """queued, running, succeeded, failed or cancelled."""
    progress: dict[str, Any] = field(default_factory=dict)
    """Last progress (stage, done, total, detail, ngrams_scored, llm_calls, units_done)."""
    error_code: str = ""
    """gRPC status code name when failed."""
    error_message: str = ""
    """Why it failed."""
    result: str | None = None
    """ExplainResult JSON when succeeded."""
    resumed: int = 0
    """Restarts after a server restart."""
    created_at: float = field(default_factory=time.time)
    """Seconds since the epoch."""
    updated_at: float = field(default_factory=time.time)
    """Seconds since the epoch."""


class Store:
    """SQLite persistence; thread-safe. One server per database: the constructor takes an
    exclusive lock on ``<db>.lock`` (ConfigError naming the holder when another server has it).
    The database, its WAL files and the lock are created owner-only (0600)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lockfile = _take_lock(self.path.with_name(self.path.name + ".lock"))
        self._lock = threading.Lock()
        old_umask = os.umask(0o077)  # server.db, -wal, -shm: every tenant's arrays and results, owner-only
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except BaseException:
            self._lockfile.close()
            raise
        finally:
            os.umask(old_umask)
        for suffix in ("", "-wal", "-shm"):  # databases created before this rule
            p = Path(str(self.path) + suffix)
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lockfile.close()  # releases the lock

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ modules

    def add_module(self, rec: ModuleRecord, arrays: dict[str, np.ndarray]) -> None:
        stmts = [("INSERT INTO modules VALUES (?,?,?,?,?,?,?,?,?)",
                  (rec.id, rec.owner, rec.kind, rec.display_name, json.dumps(rec.params), json.dumps(rec.units),
                   rec.fingerprint, rec.array_bytes, rec.created_at))]
        for name, arr in arrays.items():
            a = np.ascontiguousarray(arr, dtype="<f4")
            stmts.append(("INSERT INTO module_arrays VALUES (?,?,?,?)",
                          (rec.id, name, json.dumps(list(a.shape)), a.tobytes())))
        self._write(stmts)

    def module(self, owner: str, module_id: str) -> ModuleRecord:
        rows = self._rows("SELECT * FROM modules WHERE id=? AND owner=?", (module_id, owner))
        if not rows:
            raise NotFoundError(f"no module {module_id!r}")
        return _module(rows[0])

    def modules(self, owner: str) -> list[ModuleRecord]:
        return [_module(r) for r in self._rows("SELECT * FROM modules WHERE owner=? ORDER BY created_at", (owner,))]

    def module_arrays(self, module_id: str) -> dict[str, np.ndarray]:
        rows = self._rows("SELECT name, shape, data FROM module_arrays WHERE module_id=?", (module_id,))
        return {n: np.frombuffer(d, dtype="<f4").reshape(json.loads(s)).astype(np.float32) for n, s, d in rows}

    def delete_module(self, owner: str, module_id: str) -> None:
        self.module(owner, module_id)
        self._write([("DELETE FROM module_arrays WHERE module_id=?", (module_id,)),
                     ("DELETE FROM modules WHERE id=?", (module_id,))])

    def usage(self, owner: str) -> tuple[int, int]:
        """(modules, array bytes) registered by ``owner``."""
        (n, b), = self._rows("SELECT COUNT(*), COALESCE(SUM(array_bytes), 0) FROM modules WHERE owner=?", (owner,))
        return int(n), int(b)

    # ------------------------------------------------------------------ jobs

    def add_job(self, rec: JobRecord) -> tuple[JobRecord, bool]:
        """Insert ``rec``; with a used idempotency key return ``(existing, False)`` instead."""
        if rec.idempotency_key:
            rows = self._rows("SELECT * FROM jobs WHERE owner=? AND idempotency_key=?", (rec.owner, rec.idempotency_key))
            if rows:
                old = _job(rows[0])
                if old.spec_hash != rec.spec_hash:
                    raise ConfigError(f"idempotency key {rec.idempotency_key!r} was used for a different request")
                return old, False
        self._write([("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (rec.id, rec.owner, rec.module_id, json.dumps(rec.spec), rec.spec_hash, rec.idempotency_key,
                       rec.state, json.dumps(rec.progress), rec.error_code, rec.error_message, rec.result,
                       rec.resumed, rec.created_at, rec.updated_at))])
        return rec, True

    def job(self, owner: str | None, job_id: str) -> JobRecord:
        """The job ``job_id`` of ``owner`` (None: of anyone)."""
        if owner is None:
            rows = self._rows("SELECT * FROM jobs WHERE id=?", (job_id,))
        else:
            rows = self._rows("SELECT * FROM jobs WHERE id=? AND owner=?", (job_id, owner))
        if not rows:
            raise NotFoundError(f"no job {job_id!r}")
        return _job(rows[0])

    def jobs(self, owner: str) -> list[JobRecord]:
        rows = self._rows("SELECT * FROM jobs WHERE owner=? ORDER BY created_at DESC", (owner,))
        return [replace(_job(r), result=None) for r in rows]

    def active_jobs(self, owner: str | None = None) -> list[JobRecord]:
        """Queued or running jobs (of ``owner``, or of everyone), oldest first."""
        sql = "SELECT * FROM jobs WHERE state IN ('queued','running')"
        rows = self._rows(sql + " ORDER BY created_at", ()) if owner is None else \
            self._rows(sql + " AND owner=? ORDER BY created_at", (owner,))
        return [_job(r) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (``progress`` is JSON-encoded); bumps ``updated_at``.

        A finished job (succeeded, failed, cancelled) keeps its state: a state change is
        written only while the job is still queued or running, so nothing (a stopping server
        above all) can put a finished job back in the queue or overwrite how it ended.
        """
        if "progress" in fields:
            fields["progress"] = json.dumps(fields["progress"])
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        guard = " AND state IN ('queued','running')" if "state" in fields else ""
        self._write([(f"UPDATE jobs SET {cols} WHERE id=?{guard}", (*fields.values(), job_id))])

    def delete_job(self, owner: str, job_id: str) -> None:
        """Delete a job of ``owner`` with its spec (inline corpora), saved units and result."""
        self.job(owner, job_id)
        self._write([("DELETE FROM job_units WHERE job_id=?", (job_id,)),
                     ("DELETE FROM jobs WHERE id=? AND owner=?", (job_id, owner))])

    def expired_jobs(self, before: float) -> list[tuple[str, str]]:
        """``(owner, id)`` of finished jobs last updated before ``before`` (seconds since the epoch)."""
        return [(o, i) for o, i in self._rows("SELECT owner, id FROM jobs WHERE state IN ('succeeded','failed',"
                                              "'cancelled') AND updated_at < ?", (before,))]

    def job_bytes(self, owner: str) -> int:
        """Bytes ``owner``'s jobs take: specs (inline corpora included), saved units and results."""
        (n,), = self._rows("SELECT COALESCE(SUM(LENGTH(spec) + COALESCE(LENGTH(result), 0)), 0) FROM jobs "
                           "WHERE owner=?", (owner,))
        (u,), = self._rows("SELECT COALESCE(SUM(LENGTH(unit)), 0) FROM job_units WHERE job_id IN "
                           "(SELECT id FROM jobs WHERE owner=?)", (owner,))
        return int(n) + int(u)

    def save_unit(self, job_id: str, col: int, unit_json: str) -> None:
        """Save a finished unit (nothing when the job was deleted meanwhile)."""
        self._write([("INSERT OR REPLACE INTO job_units SELECT ?,?,? WHERE EXISTS (SELECT 1 FROM jobs WHERE id=?)",
                      (job_id, int(col), unit_json, job_id))])

    def units(self, job_id: str) -> dict[int, str]:
        """Finished units of a job: column -> UnitExplanation JSON."""
        return {int(c): u for c, u in self._rows("SELECT col, unit FROM job_units WHERE job_id=?", (job_id,))}


def _take_lock(path: Path) -> Any:
    """An open, exclusively locked (flock) file; ConfigError when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    f = os.fdopen(fd, "r+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = f.read().strip()[:20] or "unknown"
        f.close()
        raise ConfigError(f"the database {str(path)[:-5]!r} is in use by another sasc server (pid {holder}); "
                          "stop it first or give this server its own --db") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def _module(r: tuple) -> ModuleRecord:
    return ModuleRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], int(r[7]), float(r[8]))


def _job(r: tuple) -> JobRecord:
    return JobRecord(id=r[0], owner=r[1], module_id=r[2], spec=json.loads(r[3]), spec_hash=r[4], idempotency_key=r[5],
                     state=r[6], progress=json.loads(r[7]), error_code=r[8], error_message=r[9], result=r[10],
                     resumed=int(r[11]), created_at=float(r[12]), updated_at=float(r[13]))
