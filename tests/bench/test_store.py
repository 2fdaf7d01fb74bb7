"""The SQLite results store: one row per key, committed immediately, reopened intact."""
from __future__ import annotations

import math
import sqlite3

import pytest

from advqa.bench.store import ResultStore, StoreVersionError, config_hash


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


# The schema written by the first results store (version 1), kept here as it was so the upgrade is
# tested against the real old layout.
V1_SCHEMA = """
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
INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');
"""


def _v1_database(path):
    con = sqlite3.connect(path)
    con.executescript(V1_SCHEMA)
    for i in range(3):
        con.execute("INSERT INTO clean VALUES (?,?,?,?,?,?,?,?,?)",
                    ("litevsfa", "demo:test", f"v{i}", 3.0 + i, 0.4 + 0.1 * i, "ok", None, 0.5, 1000.0 + i))
    con.execute("INSERT INTO clean VALUES (?,?,?,?,?,?,?,?,?)",
                ("litevsfa", "demo:test", "bad", 2.0, None, "skipped", "corrupt", None, 1003.0))
    for i in range(3):
        for attack, chash in (("fgsm", "h1"), ("patch", "h2")):
            con.execute("INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        ("litevsfa", "demo:test", f"v{i}", attack, chash, attack, '{"eps": 0.01}', "ok", None,
                         3.0 + i, 0.1 * i, 0.4 + 0.1 * i, 0.2 + 0.05 * i, 10 * (i + 1), 1, 1.5, 2 / 255, 1 / 255,
                         48.0 + i, 0.99, None, '{"target": 0.1}', 2000.0 + i))
    con.commit()
    con.close()


def test_version_1_database_is_upgraded_in_place(tmp_path):
    db = tmp_path / "old.sqlite"
    _v1_database(db)
    con = sqlite3.connect(db)
    old_results = con.execute("SELECT * FROM results ORDER BY video, attack").fetchall()
    old_clean = con.execute("SELECT * FROM clean ORDER BY video").fetchall()
    con.close()
    with ResultStore(db) as s:
        assert s.schema_version() == 2
        assert s.count() == 6 and len(s.clean_rows()) == 4
        rows = sorted(s.rows(), key=lambda r: (r["video"], r["attack"]))
        for new, old in zip(rows, old_results):
            assert new["defense"] == "" and new["attacker"] == ""
            assert (new["model"], new["dataset"], new["video"], new["attack"], new["config_hash"], new["label"],
                    new["config"], new["status"], new["reason"], new["mos"], new["target"], new["clean_score"],
                    new["adv_score"], new["queries"], new["iterations"], new["time_s"], new["linf"], new["l2"],
                    new["psnr"], new["ssim"], new["adv_path"], new["extras"], new["created"]) == tuple(old)
        for new, old in zip(s.clean_rows(), old_clean):
            assert new["defense"] == ""
            assert (new["model"], new["dataset"], new["video"], new["mos"], new["score"], new["status"],
                    new["reason"], new["time_s"], new["created"]) == tuple(old)
        assert s.has("litevsfa", "demo:test", "v1", "patch", "h2")
        assert s.clean_score("litevsfa", "demo:test", "bad")["reason"] == "corrupt"
        # the new key columns are part of the primary key: a defended row beside the old one
        s.put(_row("v0", model="litevsfa", dataset="demo:test", attack="fgsm", config_hash="h1",
                   defense="jpeg", attacker="naive"))
        s.put_clean("litevsfa", "demo:test", "v0", mos=3.0, score=0.3, defense="jpeg")
        assert s.count() == 7 and len(s.clean_rows()) == 5
        assert s.has("litevsfa", "demo:test", "v0", "fgsm", "h1", defense="jpeg", attacker="naive")
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    pk = [r[1] for r in sorted(con.execute("PRAGMA table_info(results)").fetchall(), key=lambda r: r[5]) if r[5]]
    assert pk == ["model", "defense", "dataset", "video", "attack", "config_hash", "attacker"]
    con.close()
    with ResultStore(db) as s:  # opening an upgraded database again changes nothing
        assert s.count() == 7 and s.schema_version() == 2


def test_newer_database_is_refused_untouched(tmp_path):
    db = tmp_path / "future.sqlite"
    _v1_database(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreVersionError, match="schema version 7, written by a newer advqa.*up to 2"):
        ResultStore(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 6
    assert "defense" not in [r[1] for r in con.execute("PRAGMA table_info(results)")]
    con.close()


def test_new_database_has_version_2(tmp_path):
    with ResultStore(tmp_path / "n.sqlite") as s:
        assert s.schema_version() == 2
        s.put(_row("v"))
        assert s.rows()[0]["defense"] == "" and s.rows()[0]["attacker"] == ""


def test_failed_upgrade_leaves_the_version_1_database_as_it_was(tmp_path, monkeypatch):
    from advqa.bench import store as store_module

    db = tmp_path / "old.sqlite"
    _v1_database(db)
    # a column the old results table lacks: the copy of the second table fails after the first was rebuilt
    monkeypatch.setattr(store_module, "_V1_RESULTS", store_module._V1_RESULTS + ("no_such_column",))
    with pytest.raises(sqlite3.OperationalError, match="no_such_column"):
        ResultStore(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    assert "defense" not in [r[1] for r in con.execute("PRAGMA table_info(clean)")]  # rolled back too
    assert con.execute("SELECT COUNT(*) FROM clean").fetchone()[0] == 4
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 6
    con.close()
