"""The robustness runner: (defended) models x datasets x attacks x attackers, one stored row per
attacked video.

``run_experiment`` runs three phases of jobs (:mod:`advqa.bench.jobs`) on an executor
(:mod:`advqa.bench.executors`; serial by default) and commits every row through one writer as
soon as it arrives:

1. **clean**: every model scores every video of every attacked set (and each defended model's
   undefended inner model does too, for the defence's clean-accuracy cost). The set's clean
   scores give the boundary targets of Eq. 7 (:mod:`advqa.bench.protocol`).
2. **fit**: each fitted attack is fitted once per (attacked model, attack configuration, fit
   videos) and its state saved as ``OUT/states/<hash>.pt``; a rerun reuses the stored state.
3. **attack**: one job per (model, dataset, attack, attacker, video).

Finished rows are skipped, so a killed run resumes where it stopped without recomputing or
duplicating anything. Unreadable videos are skipped with their reason recorded, and the run goes
on.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
import torch

from advqa.bench import protocol
from advqa.bench.config import Experiment
from advqa.bench.executors import Executor, SerialExecutor
from advqa.bench.jobs import (
    AnyJob,
    CleanJob,
    FitJob,
    Job,
    Row,
    WorkerCache,
    build_attack,
    defense_key,
    execute,
    load_clip,
    model_key,
    plan,
    plan_clean,
    plan_fits,
    save_example,
)
from advqa.bench.protocol import dataset_key
from advqa.bench.store import ResultStore
from advqa.errors import AdvqaError

log = logging.getLogger(__name__)

#: called as progress(stage, done, total, description); stage is "clean", "fit" or "attack"
Progress = Callable[[str, int, int, str], None]


@dataclass
class RunReport:
    """What a run did: rows computed now, rows found already done, videos skipped, fits."""

    out_dir: Path
    database: Path
    computed: int = 0
    reused: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (dataset, video, reason)
    fitted: int = 0  # attack states fitted in this run
    states_reused: int = 0  # attack states read back from earlier runs


class _Progress:
    """Per-group progress (one group per description) for a phase's pending jobs."""

    def __init__(self, progress: Progress | None, stage: str, jobs: Sequence[AnyJob]) -> None:
        self.progress, self.stage = progress, stage
        self.total: dict[str, int] = defaultdict(int)
        for j in jobs:
            self.total[j.describe()] += 1
        self.done: dict[str, int] = dict.fromkeys(self.total, 0)
        self.order = list(self.total)
        if self.progress and self.order:
            self.progress(stage, 0, self.total[self.order[0]], self.order[0])

    def step(self, job: AnyJob) -> None:
        if not self.progress:
            return
        desc = job.describe()
        self.done[desc] += 1
        self.progress(self.stage, self.done[desc], self.total[desc], desc)
        if self.done[desc] == self.total[desc]:  # announce the next group that has not started
            nxt = next((d for d in self.order if self.done[d] == 0), None)
            if nxt is not None:
                self.progress(self.stage, 0, self.total[nxt], nxt)


class _Writer:
    """The one writer: commits each row to the store as it arrives and keeps the run's counts."""

    def __init__(self, store: ResultStore, report: RunReport, progress: _Progress, max_rows: int | None = None) -> None:
        self.store, self.report, self.progress, self.max_rows = store, report, progress, max_rows
        self.stopped = False

    def __call__(self, job: AnyJob, row: Row) -> bool:
        v = row.values
        if row.table == "clean":
            self.store.put_clean(v["model"], v["dataset"], v["video"], mos=v.get("mos"), score=v.get("score"),
                                 status=v["status"], reason=v.get("reason"), time_s=v.get("time_s"),
                                 defense=v.get("defense", ""))
        elif row.table == "results":
            self.store.put(v)
            if v["status"] == "ok":
                self.report.computed += 1
            else:
                self.report.skipped.append((v["dataset"], v["video"], str(v.get("reason"))))
        elif row.table == "state":
            self.report.fitted += 1
        self.progress.step(job)
        if self.max_rows is not None and row.table == "results" and self.report.computed >= self.max_rows:
            self.stopped = True
        return self.stopped


def _clean_pending(store: ResultStore, job: CleanJob) -> bool:
    """A clean score still to compute: none stored, or a ``failed`` one (its worker died)."""
    row = store.clean_score(job.key[0], job.key[2], job.key[3], defense=job.key[1])
    return row is None or row["status"] == "failed"


def _state_usable(job: FitJob) -> bool:
    """Whether a stored fitted state can be reused (it exists and loads for this attack)."""
    path = Path(job.state_path)
    if not path.is_file():
        return False
    try:
        build_attack(job.attack, job.eot).load_state(path)  # type: ignore[attr-defined]
    except AdvqaError as exc:
        log.warning("refitting: the stored state %s cannot be used (%s)", path, exc)
        return False
    return True


def run_experiment(exp: Experiment, out_dir: str | Path, *, progress: Progress | None = None,
                   max_rows: int | None = None, executor: Executor | None = None) -> RunReport:
    """Run (or resume) an experiment; results go to ``out_dir/results.sqlite``.

    ``max_rows`` stops after computing that many new attack rows (used to test resuming).
    ``executor`` runs the jobs (default: :class:`~advqa.bench.executors.SerialExecutor`, in this
    process).
    """
    from advqa import attacks as attack_registry
    from advqa import models as model_registry

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = RunReport(out_dir=out, database=out / "results.sqlite")
    torch.manual_seed(exp.seed)
    # Validate every name before any work starts.
    for a in exp.attacks:
        attack_registry.attack_class(a.name)
    for m in exp.models:
        model_registry.card(m.name)
    sets = {protocol.dataset_key(d): protocol.attacked_set(d, exp.seed) for d in exp.datasets}
    # the planner's probe of randomised models shares a serial executor's cache (one build per process)
    owned = executor is None
    if executor is None:
        from advqa.bench.executors import make_executor

        executor = make_executor(exp.executor)
    cache = executor.cache if isinstance(executor, SerialExecutor) else WorkerCache()
    try:
        return _run(exp, out, report, sets, executor, cache, progress, max_rows)
    finally:
        if owned:
            executor.close()


def _run(exp: Experiment, out: Path, report: RunReport, sets: dict, executor: Executor, cache: WorkerCache,
         progress: Progress | None, max_rows: int | None) -> RunReport:
    with ResultStore(report.database) as store:
        # 1. clean scores of every set
        clean_jobs = plan_clean(exp, sets)
        pending = [j for j in clean_jobs if _clean_pending(store, j)]
        executor.run(pending, execute, _Writer(store, report, _Progress(progress, "clean", pending)))
        clean: dict[tuple[str, str, str, str], float | None] = {}
        attacked_models = {(model_key(m), defense_key(m.defense)) for m in exp.models}
        seen_skips = set()
        for j in clean_jobs:
            row = store.clean_score(j.key[0], j.key[2], j.key[3], defense=j.key[1])
            ok = row is not None and row["status"] == "ok"
            clean[j.key] = float(row["score"]) if ok else None
            if row is not None and not ok and (j.key[0], j.key[1]) in attacked_models \
                    and (j.key[2], j.key[3]) not in seen_skips:
                seen_skips.add((j.key[2], j.key[3]))
                report.skipped.append((j.key[2], j.key[3], row["reason"]))

        # 2. the attack jobs, and the fits they need
        jobs = plan(exp, sets, clean, out, randomized=lambda spec: cache.model(spec, exp.device).randomized)
        pending_attacks = []
        for j in jobs:
            mkey, dkey, dataset, video, attack, chash, attacker = j.key
            if store.has(mkey, dataset, video, attack, chash, defense=dkey, attacker=attacker):
                report.reused += 1
            else:
                pending_attacks.append(j)
        fits = []
        for f in plan_fits(pending_attacks):
            if _state_usable(f):
                report.states_reused += 1
            else:
                fits.append(f)
        if fits:
            executor.run(fits, execute, _Writer(store, report, _Progress(progress, "fit", fits)))

        # 3. attacks
        if max_rows is not None and max_rows <= 0:
            return report
        executor.run(pending_attacks, execute,
                     _Writer(store, report, _Progress(progress, "attack", pending_attacks), max_rows))
    return report


__all__ = ["CleanJob", "FitJob", "Job", "Progress", "RunReport", "dataset_key", "load_clip", "model_key",
           "run_experiment", "save_example"]
