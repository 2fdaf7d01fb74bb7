"""The results store: one SQLite row per (model, dataset, video, attack, config hash).

Rows are committed as soon as each is computed, so an interrupted run loses at most the video
in progress and a rerun skips finished rows. Clean scores are stored too (per model, dataset and
video), because paper 000's boundary targets (Eq. 7) need the clean scores of the whole set.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clean (
    model TEXT NOT NULL, dataset TEXT NOT NULL, video TEXT NOT NULL,
    mos REAL, score REAL, status TEXT NOT NULL, reason TEXT, time_s REAL,
    created REAL NOT NULL,
    PRIMARY KEY (model, dataset, video)
);
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL, dataset TEXT NOT NULL, video TEXT NOT NULL,
    attack TEXT NOT NULL, config_hash TEXT NOT NULL,
    label TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT,
    mos REAL, target REAL, clean_score REAL, adv_score REAL,
    queries INTEGER, iterations INTEGER, time_s REAL,
    linf REAL, l2 REAL, psnr REAL, ssim REAL,
    adv_path TEXT, extras TEXT, created REAL NOT NULL,
    PRIMARY KEY (model, dataset, video, attack, config_hash)
);
"""

RESULT_FIELDS = ("model", "dataset", "video", "attack", "config_hash", "label", "config", "status", "reason",
                 "mos", "target", "clean_score", "adv_score", "queries", "iterations", "time_s",
                 "linf", "l2", "psnr", "ssim", "adv_path", "extras", "created")


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_slug(*parts: str) -> str:
    """A file-name-safe stem from row keys (``litevsfa@w.pt``, ``demo:test``, ``yfcc/725``)."""
    return "_".join(parts).replace("/", "_").replace(":", "_").replace("@", "_").replace(" ", "_")


def _finite_or_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else x
    return x


class ResultStore:
    """A results database at ``path`` (created with its schema when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:  # commits on success, rolls back on error
            yield self._db

    # clean scores ---------------------------------------------------------------------------
    def clean_score(self, model: str, dataset: str, video: str) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM clean WHERE model=? AND dataset=? AND video=?",
                                (model, dataset, video)).fetchone()

    def put_clean(self, model: str, dataset: str, video: str, *, mos: float | None, score: float | None,
                  status: str = "ok", reason: str | None = None, time_s: float | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO clean VALUES (?,?,?,?,?,?,?,?,?)",
                       (model, dataset, video, mos, score, status, reason, time_s, time.time()))

    # attack results -------------------------------------------------------------------------
    def has(self, model: str, dataset: str, video: str, attack: str, chash: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM results WHERE model=? AND dataset=? AND video=? AND attack=? AND config_hash=?",
            (model, dataset, video, attack, chash)).fetchone() is not None

    def put(self, row: Mapping[str, Any]) -> None:
        """Insert one finished row (committed immediately). Unknown keys are rejected."""
        unknown = set(row) - set(RESULT_FIELDS)
        if unknown:
            raise KeyError(f"unknown result fields: {sorted(unknown)}")
        values = dict.fromkeys(RESULT_FIELDS)
        values.update(row)
        values["created"] = values["created"] or time.time()
        for key in ("config", "extras"):
            if values[key] is not None and not isinstance(values[key], str):
                values[key] = json.dumps(values[key], sort_keys=True, default=str)
        params = [_finite_or_none(values[f]) for f in RESULT_FIELDS]
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO results ({','.join(RESULT_FIELDS)}) "
                       f"VALUES ({','.join('?' * len(RESULT_FIELDS))})", params)

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Result rows as dicts, filtered by equality on the given columns."""
        bad = set(where) - set(RESULT_FIELDS)
        if bad:
            raise KeyError(f"cannot filter on {sorted(bad)}")
        clause = " AND ".join(f"{k}=?" for k in where) or "1"
        cur = self._db.execute(f"SELECT * FROM results WHERE {clause} ORDER BY model, dataset, label, video",
                               tuple(where.values()))
        return [dict(r) for r in cur.fetchall()]

    def clean_rows(self, **where: Any) -> list[dict[str, Any]]:
        clause = " AND ".join(f"{k}=?" for k in where) or "1"
        cur = self._db.execute(f"SELECT * FROM clean WHERE {clause} ORDER BY model, dataset, video",
                               tuple(where.values()))
        return [dict(r) for r in cur.fetchall()]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
