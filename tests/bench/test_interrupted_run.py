"""`advqa run` killed mid-way resumes without recomputing, losing or duplicating rows."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _count(db) -> int:
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_killed_run_resumes(tmp_path, folder_dataset):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "name: kill-test\nmodels: [litevsfa]\n"
        f"datasets: [{{name: folder, root: '{folder_dataset}'}}]\n"
        "attacks:\n  - {name: ifgsm, eps: 4/255, iterations: 3, step: 2/255}\n  - {name: fgsm, eps: 2/255}\n")
    out = tmp_path / "out"
    db = out / "results.sqlite"
    cmd = [sys.executable, "-m", "advqa.cli", "run", "--config", str(cfg), "--out", str(out), "--quiet", "--no-report"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 240
    while _count(db) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"run ended before it could be killed: {proc.stdout.read().decode()[-2000:]}")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    done = {(r[0], r[1]): r[2] for r in con.execute("SELECT video, label, created FROM results")}
    con.close()
    assert 2 <= len(done) < 10, "the kill must land mid-way"

    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"reused from earlier runs: {len(done)}" in res.stdout
    con = sqlite3.connect(db)
    rows = con.execute("SELECT video, label, created FROM results").fetchall()
    assert len(rows) == 10 and len({(v, lab) for v, lab, _ in rows}) == 10
    for v, lab, created in rows:
        if (v, lab) in done:
            assert created == done[(v, lab)]  # not recomputed
