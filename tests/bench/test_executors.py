"""The Executor interface: a different executor (out of order, each job pickled as if sent to another
process, a fresh cache per job) gives the same rows as the serial one, and stopping works."""
from __future__ import annotations

import pickle

from advqa.bench.config import experiment_from_dict
from advqa.bench.executors import Executor, SerialExecutor
from advqa.bench.jobs import WorkerCache
from advqa.bench.runner import run_experiment
from advqa.bench.store import ResultStore


class ReversedPickling(Executor):
    """Runs jobs last to first; each job and row crosses a pickle boundary; one cache per job."""

    def __init__(self) -> None:
        self.ran = 0

    def run(self, jobs, execute, on_row):
        for job in reversed(list(jobs)):
            row = pickle.loads(pickle.dumps(execute(pickle.loads(pickle.dumps(job)), WorkerCache())))
            self.ran += 1
            if on_row(job, row):
                return


KEYS = ("model", "defense", "dataset", "video", "attack", "config_hash", "attacker", "clean_score", "adv_score",
        "queries", "linf", "l2", "target")


def test_another_executor_gives_the_same_rows(tmp_path, folder_dataset, tiny_registered):
    exp = experiment_from_dict({"models": [tiny_registered], "datasets": [{"name": "folder", "root": str(folder_dataset)}],
                                "attacks": [{"name": "ifgsm", "eps": "3/255", "iterations": 2, "step": "2/255"},
                                            {"name": "patch", "eps": "5/255", "queries": 10}], "examples": 0})
    serial = run_experiment(exp, tmp_path / "serial", executor=SerialExecutor())
    other = ReversedPickling()
    rep = run_experiment(exp, tmp_path / "other", executor=other)
    assert serial.computed == rep.computed == 10
    with ResultStore(serial.database) as a, ResultStore(rep.database) as b:
        rows_a = sorted(tuple(r[k] for k in KEYS) for r in a.rows())
        rows_b = sorted(tuple(r[k] for k in KEYS) for r in b.rows())
        assert len(a.clean_rows()) == len(b.clean_rows()) == 5
    assert rows_a == rows_b

    stopped = ReversedPickling()
    part = run_experiment(exp, tmp_path / "part", executor=stopped, max_rows=4)
    assert part.computed == 4 and stopped.ran == 5 + 4  # clean jobs, then 4 attack jobs and a stop
    rest = run_experiment(exp, tmp_path / "part")
    assert rest.reused == 4 and rest.computed == 6
