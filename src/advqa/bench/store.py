"""The results store: one SQLite row per attacked video, versioned, upgraded in place.

Certified score bounds (randomised smoothing) have a table of their own, ``certified``: one row
per (model, defence, dataset, video, config hash, radius).

Attack rows are keyed by (model, defence, dataset, video, attack, config hash, attacker); clean
scores by (model, defence, dataset, video). Clean scores are stored too, because the boundary
targets of Zhang et al., "Vulnerabilities in Video Quality Assessment Models: The Challenge of
Adversarial Attacks" (NeurIPS 2023, Eq. 7) need the clean scores of the whole attacked set.
Rows are committed as soon as each is computed, so an interrupted run loses at most the videos
in progress and a rerun skips finished rows.

``defense`` is the defence chain's label (``""`` for an undefended model) and ``attacker`` how
the attack treated the defence (``"naive"``, ``"non-adaptive"``, ``"adaptive"``; ``""`` for an
undefended model).

Schema versions (``meta.schema_version``):

1. results keyed by (model, dataset, video, attack, config_hash); clean by (model, dataset, video).
2. ``defense`` and ``attacker`` columns in ``results`` and ``defense`` in ``clean``, part of the
   primary keys. A version-1 database is rebuilt into version 2 inside one transaction when it
   is opened (every row kept, with ``defense = attacker = ""``); a database from a newer version
   than this code knows is refused with :class:`StoreVersionError`.

Tables that add to the schema without changing an existing one are created whenever a database
is opened, with no new version number: a version-2 database written before the ``certified``
table existed gains it, empty, on its next open (no existing row is touched), and an advqa that
does not know the table ignores it.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from advqa.errors import AdvqaError

SCHEMA_VERSION = 2

_CLEAN_COLUMNS = """
    model TEXT NOT NULL, defense TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL, video TEXT NOT NULL,
    mos REAL, score REAL, status TEXT NOT NULL, reason TEXT, time_s REAL,
    created REAL NOT NULL,
    PRIMARY KEY (model, defense, dataset, video)
"""
_RESULT_COLUMNS = """
    model TEXT NOT NULL, defense TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL, video TEXT NOT NULL,
    attack TEXT NOT NULL, config_hash TEXT NOT NULL, attacker TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT,
    mos REAL, target REAL, clean_score REAL, adv_score REAL,
    queries INTEGER, iterations INTEGER, time_s REAL,
    linf REAL, l2 REAL, psnr REAL, ssim REAL,
    adv_path TEXT, extras TEXT, created REAL NOT NULL,
    PRIMARY KEY (model, defense, dataset, video, attack, config_hash, attacker)
"""
_CERTIFIED_COLUMNS = """
    model TEXT NOT NULL, defense TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL, video TEXT NOT NULL,
    config_hash TEXT NOT NULL, radius REAL NOT NULL, config TEXT NOT NULL,
    bound TEXT NOT NULL, sigma REAL NOT NULL, samples INTEGER NOT NULL, alpha REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT, mos REAL,
    score REAL, lower_bound REAL, upper_bound REAL, width REAL, abstained INTEGER,
    k_lower INTEGER, k_upper INTEGER, dims INTEGER, rms_255 REAL, time_s REAL,
    extras TEXT, created REAL NOT NULL,
    PRIMARY KEY (model, defense, dataset, video, config_hash, radius)
"""
#: tables added after version 2 that change no existing table: created on every open
_ADDITIVE = (f"CREATE TABLE IF NOT EXISTS certified ({_CERTIFIED_COLUMNS})",)
_SCHEMA = ("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
           f"CREATE TABLE IF NOT EXISTS clean ({_CLEAN_COLUMNS})",
           f"CREATE TABLE IF NOT EXISTS results ({_RESULT_COLUMNS})") + _ADDITIVE

RESULT_FIELDS = ("model", "defense", "dataset", "video", "attack", "config_hash", "attacker", "label", "config",
                 "status", "reason", "mos", "target", "clean_score", "adv_score", "queries", "iterations",
                 "time_s", "linf", "l2", "psnr", "ssim", "adv_path", "extras", "created")
#: a certified row: one radius of one video's certificate (lower_bound / upper_bound / width None
#: where a side abstains); ``extras`` holds the noise seed
CERTIFIED_FIELDS = ("model", "defense", "dataset", "video", "config_hash", "radius", "config", "bound", "sigma",
                    "samples", "alpha", "status", "reason", "mos", "score", "lower_bound", "upper_bound", "width",
                    "abstained", "k_lower", "k_upper", "dims", "rms_255", "time_s", "extras", "created")
CLEAN_FIELDS = ("model", "defense", "dataset", "video", "mos", "score", "status", "reason", "time_s", "created")

#: the columns of version 1, copied into the version-2 tables by the upgrade
_V1_CLEAN = ("model", "dataset", "video", "mos", "score", "status", "reason", "time_s", "created")
_V1_RESULTS = ("model", "dataset", "video", "attack", "config_hash", "label", "config", "status", "reason",
               "mos", "target", "clean_score", "adv_score", "queries", "iterations", "time_s",
               "linf", "l2", "psnr", "ssim", "adv_path", "extras", "created")


class StoreVersionError(AdvqaError):
    """The results database was written by a newer advqa than this one."""


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_slug(*parts: str) -> str:
    """A file-name-safe stem from row keys (``litevsfa@w.pt``, ``demo:test``, ``yfcc/725``)."""
    return "_".join(parts).replace("/", "_").replace(":", "_").replace("@", "_").replace(" ", "_")


def _row_params(row: Mapping[str, Any], fields: Sequence[str], what: str, text_keys: Sequence[str]) -> list[Any]:
    """A row's values in ``fields`` order for an INSERT: unknown keys rejected, ``created`` stamped
    when absent, ``text_keys`` defaulting to ``""``, ``config``/``extras`` as JSON, non-finite
    numbers as NULL."""
    unknown = set(row) - set(fields)
    if unknown:
        raise KeyError(f"unknown {what} fields: {sorted(unknown)}")
    values = dict.fromkeys(fields)
    values.update(row)
    values["created"] = values["created"] or time.time()
    for key in text_keys:
        values[key] = values[key] or ""
    for key in ("config", "extras"):
        if values[key] is not None and not isinstance(values[key], str):
            values[key] = json.dumps(values[key], sort_keys=True, default=str)
    return [_finite_or_none(values[f]) for f in fields]


def _finite_or_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else x
    return x


class ResultStore:
    """A results database at ``path``: created with the current schema when missing, upgraded in
    place when it has an older one, refused (:class:`StoreVersionError`) when it has a newer one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: every transaction is explicit (see _tx), so the upgrade is one unit
        self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._open()
        except BaseException:
            self._db.close()
            raise

    # -- schema and upgrades ------------------------------------------------------------------
    def _tables(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _version(self) -> int | None:
        """The stored schema version; ``None`` for an empty database."""
        tables = self._tables()
        if "meta" in tables:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None:
                try:
                    return int(row[0])
                except ValueError:
                    raise StoreVersionError(f"{self.path}: unreadable schema version {row[0]!r} in its meta "
                                            "table; it is not an advqa results database") from None
        if "results" in tables or "clean" in tables:
            return 1  # tables without a version row: the first layout
        return None

    def _open(self) -> None:
        with self._tx(immediate=True) as db:  # one writer at a time decides and upgrades
            version = self._version()
            if version is not None and version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path} has results schema version {version}, written by a newer advqa; this "
                    f"advqa reads versions up to {SCHEMA_VERSION}. Upgrade advqa, or write this run to a new "
                    "output folder (--out)")
            if version is None:
                for stmt in _SCHEMA:
                    db.execute(stmt)
            elif version == 1:
                self._upgrade_1_to_2(db)
            for stmt in _ADDITIVE:
                db.execute(stmt)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @staticmethod
    def _upgrade_1_to_2(db: sqlite3.Connection) -> None:
        """Rebuild both tables with the defence and attacker key columns, keeping every row.

        SQLite cannot change a primary key with ALTER TABLE, so each table is copied into a new
        one and renamed (inside the caller's transaction: all or nothing).
        """
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for table, columns, old in (("clean", _CLEAN_COLUMNS, _V1_CLEAN), ("results", _RESULT_COLUMNS, _V1_RESULTS)):
            db.execute(f"CREATE TABLE {table}_v2 ({columns})")
            if table in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}:
                cols = ", ".join(old)
                db.execute(f"INSERT INTO {table}_v2 ({cols}) SELECT {cols} FROM {table}")
                db.execute(f"DROP TABLE {table}")
            db.execute(f"ALTER TABLE {table}_v2 RENAME TO {table}")

    def schema_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A transaction: committed on success, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # clean scores ---------------------------------------------------------------------------
    def clean_score(self, model: str, dataset: str, video: str, defense: str = "") -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM clean WHERE model=? AND defense=? AND dataset=? AND video=?",
                                (model, defense, dataset, video)).fetchone()

    def put_clean(self, model: str, dataset: str, video: str, *, mos: float | None, score: float | None,
                  status: str = "ok", reason: str | None = None, time_s: float | None = None,
                  defense: str = "") -> None:
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO clean ({','.join(CLEAN_FIELDS)}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (model, defense, dataset, video, mos, score, status, reason, time_s, time.time()))

    # attack results -------------------------------------------------------------------------
    def has(self, model: str, dataset: str, video: str, attack: str, chash: str, *, defense: str = "",
            attacker: str = "") -> bool:
        """Whether a finished row exists (a ``failed`` row, whose worker died, is to be retried)."""
        return self._db.execute(
            "SELECT 1 FROM results WHERE model=? AND defense=? AND dataset=? AND video=? AND attack=? "
            "AND config_hash=? AND attacker=? AND status != 'failed'",
            (model, defense, dataset, video, attack, chash, attacker)).fetchone() is not None

    def put(self, row: Mapping[str, Any]) -> None:
        """Insert one finished row (committed immediately). Unknown keys are rejected."""
        params = _row_params(row, RESULT_FIELDS, "result", ("defense", "attacker"))
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO results ({','.join(RESULT_FIELDS)}) "
                       f"VALUES ({','.join('?' * len(RESULT_FIELDS))})", params)

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Result rows as dicts, filtered by equality on the given columns."""
        return self._select("results", RESULT_FIELDS, "model, defense, dataset, label, attacker, video", where)

    def _select(self, table: str, fields: Sequence[str], order: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows of ``table`` as dicts, filtered by equality on ``where`` (columns of ``fields``)."""
        bad = set(where) - set(fields)
        if bad:
            raise KeyError(f"cannot filter on {sorted(bad)}")
        clause = " AND ".join(f"{k}=?" for k in where) or "1"
        cur = self._db.execute(f"SELECT * FROM {table} WHERE {clause} ORDER BY {order}", tuple(where.values()))
        return [dict(r) for r in cur.fetchall()]

    def clean_rows(self, **where: Any) -> list[dict[str, Any]]:
        return self._select("clean", CLEAN_FIELDS, "model, defense, dataset, video", where)

    # certified bounds ------------------------------------------------------------------------
    def has_certified(self, model: str, dataset: str, video: str, chash: str, radii: Iterable[float], *,
                      defense: str = "") -> bool:
        """Whether a finished row exists for every radius (``failed`` rows are to be retried)."""
        done = {float(r[0]) for r in self._db.execute(
            "SELECT radius FROM certified WHERE model=? AND defense=? AND dataset=? AND video=? AND config_hash=? "
            "AND status != 'failed'", (model, defense, dataset, video, chash))}
        return all(float(r) in done for r in radii)

    def put_certified(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert one video's certified rows (one per radius) in one transaction. Unknown keys are
        rejected."""
        batch = [_row_params(row, CERTIFIED_FIELDS, "certified", ("defense",)) for row in rows]
        with self._tx() as db:
            db.executemany(f"INSERT OR REPLACE INTO certified ({','.join(CERTIFIED_FIELDS)}) "
                           f"VALUES ({','.join('?' * len(CERTIFIED_FIELDS))})", batch)

    def certified_rows(self, **where: Any) -> list[dict[str, Any]]:
        """Certified rows as dicts, filtered by equality on the given columns."""
        return self._select("certified", CERTIFIED_FIELDS, "model, defense, dataset, config_hash, video, radius", where)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
