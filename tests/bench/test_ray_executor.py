"""The Ray executor on a local 2-CPU Ray: the serial executor's rows, workers that die mid-job are
retried (no row lost or duplicated), a job whose worker keeps dying is recorded as failed, and a
killed driver resumes. Slow (a local Ray starts in a few seconds), but part of CI."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from advqa.bench.config import experiment_from_dict
from advqa.bench.executors import SerialExecutor
from advqa.bench.jobs import execute
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
KEYS = ("model", "defense", "dataset", "video", "attack", "config_hash", "attacker", "queries", "iterations")
VALUES = ("clean_score", "adv_score", "linf", "l2", "target")


def dying_execute(job, cache):
    """Kills its worker process the first time it runs a job (marker files in $ADVQA_TEST_MARKERS)."""
    name = "_".join(map(str, job.key)).replace("/", "_").replace(" ", "_")
    marker = Path(os.environ["ADVQA_TEST_MARKERS"]) / name
    if not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return execute(job, cache)


def always_dying_execute(job, cache):
    """Kills its worker on every attempt at video v0; runs the others."""
    if job.key[3] == "v0":
        os.kill(os.getpid(), signal.SIGKILL)
    return execute(job, cache)


@pytest.fixture(scope="module")
def markers(tmp_path_factory):
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def ray_executor(markers):
    from advqa.bench.ray_executor import RayExecutor

    ex = RayExecutor(workers=2, num_cpus=2, object_store_memory=100 * 2**20, max_retries=2,
                     runtime_env={"env_vars": {"PYTHONPATH": str(TESTS), "ADVQA_TEST_MARKERS": str(markers)}})
    yield ex
    ex.close()


def _experiment(folder):
    return experiment_from_dict({
        "models": ["litevsfa"], "datasets": [{"name": "folder", "root": str(folder)}], "examples": 0,
        "attacks": [{"name": "ifgsm", "eps": "4/255", "iterations": 2, "step": "2/255"},
                    {"name": "patch", "eps": "5/255", "queries": 12}]})


def _rows(db):
    with ResultStore(db) as store:
        rows = store.rows()
    return sorted((tuple(r[k] for k in KEYS), tuple(r[k] for k in VALUES), r["status"]) for r in rows)


def test_ray_gives_the_serial_rows_with_one_thread_per_job(tmp_path, folder_dataset, ray_executor):
    exp = _experiment(folder_dataset)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' share: 1 CPU each, so the same kernels run
    try:
        serial = run_experiment(exp, tmp_path / "serial", executor=SerialExecutor())
    finally:
        torch.set_num_threads(threads)
    rep = run_experiment(exp, tmp_path / "ray", executor=ray_executor)
    assert serial.computed == rep.computed == 10
    a, b = _rows(serial.database), _rows(rep.database)
    assert [k for k, _, _ in a] == [k for k, _, _ in b]
    for (_, va, _), (_, vb, _) in zip(a, b):
        assert vb == pytest.approx(va, rel=1e-6, abs=1e-7)
    info = ray_executor.info()
    assert len(info) == 2 and {i["threads"] for i in info} == {1}
    assert sum(i["builds"] for i in info) <= 2  # each worker built litevsfa at most once


def test_a_worker_killed_mid_job_is_retried_without_lost_or_duplicated_rows(folder_dataset, ray_executor):
    from advqa.bench.jobs import plan_clean
    from advqa.bench.protocol import attacked_set, dataset_key

    exp = _experiment(folder_dataset)
    sets = {dataset_key(d): attacked_set(d, exp.seed) for d in exp.datasets}
    jobs = plan_clean(exp, sets)
    seen = []
    before = ray_executor.retries
    ray_executor.run(jobs, dying_execute, lambda job, row: seen.append((job.key, row.values["status"])))
    assert ray_executor.retries - before == len(jobs)  # every job's first worker died
    assert sorted(k for k, _ in seen) == sorted(j.key for j in jobs)  # each exactly once
    assert {s for _, s in seen} == {"ok"}


def test_a_job_whose_worker_keeps_dying_is_recorded_as_failed(folder_dataset, ray_executor):
    from advqa.bench.jobs import plan_clean
    from advqa.bench.protocol import attacked_set, dataset_key

    exp = _experiment(folder_dataset)
    sets = {dataset_key(d): attacked_set(d, exp.seed) for d in exp.datasets}
    rows = {}
    ray_executor.run(plan_clean(exp, sets), always_dying_execute, lambda job, row: rows.update({job.key[3]: row}))
    assert len(rows) == 5
    assert rows["v0"].values["status"] == "failed"
    assert "worker died 3 times" in rows["v0"].values["reason"]
    assert all(r.values["status"] == "ok" for v, r in rows.items() if v != "v0")


def _count(db) -> int:
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_a_killed_driver_resumes(tmp_path, folder_dataset):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "name: ray-kill-test\nmodels: [litevsfa]\n"
        f"datasets: [{{name: folder, root: '{folder_dataset}'}}]\n"
        "executor: {name: ray, workers: 2, num_cpus: 2, object_store_memory: 100000000}\n"
        "attacks:\n  - {name: ifgsm, eps: 4/255, iterations: 3, step: 2/255}\n  - {name: fgsm, eps: 2/255}\n")
    out = tmp_path / "out"
    db = out / "results.sqlite"
    cmd = [sys.executable, "-m", "advqa.cli", "run", "--config", str(cfg), "--out", str(out), "--quiet", "--no-report"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 300
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
    rows = con.execute("SELECT video, label, created, status FROM results").fetchall()
    assert len(rows) == 10 and len({(v, lab) for v, lab, _, _ in rows}) == 10
    assert {s for *_, s in rows} == {"ok"}
    for v, lab, created, _ in rows:
        if (v, lab) in done:
            assert created == done[(v, lab)]  # not recomputed
