"""The SQLite results store: one row per key, committed immediately, reopened intact."""
from __future__ import annotations

import math
import sqlite3

import pytest

from advqa.bench.store import ResultStore, config_hash


def _row(video: str, **kw):
    base = dict(model="m", dataset="d", video=video, attack="whitebox", config_hash="abc", label="wb",
                config={"eps": 1 / 255}, status="ok", mos=3.0, clean_score=0.5, adv_score=0.1)
    base.update(kw)
    return base


def test_config_hash_is_order_independent_and_sensitive():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({})) == 16


def test_rows_persist_and_replace_not_duplicate(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as s:
        s.put(_row("v1"))
        s.put(_row("v2", psnr=float("inf")))
        s.put(_row("v1", adv_score=0.2))  # same key: replaced, not duplicated
    with ResultStore(db) as s:
        assert s.count() == 2
        rows = {r["video"]: r for r in s.rows()}
        assert rows["v1"]["adv_score"] == pytest.approx(0.2)
        assert math.isinf(rows["v2"]["psnr"])
        assert s.has("m", "d", "v1", "whitebox", "abc")
        assert not s.has("m", "d", "v1", "whitebox", "other")
    # the row is visible to another connection as soon as put() returns (committed)
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2


def test_unknown_field_rejected(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s, pytest.raises(KeyError):
        s.put(_row("v", bogus=1))


def test_clean_scores_round_trip(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        s.put_clean("m", "d", "v", mos=4.0, score=0.7)
        s.put_clean("m", "d", "bad", mos=2.0, score=None, status="skipped", reason="corrupt")
        assert s.clean_score("m", "d", "v")["score"] == pytest.approx(0.7)
        assert s.clean_score("m", "d", "bad")["reason"] == "corrupt"
        assert s.clean_score("m", "d", "missing") is None
