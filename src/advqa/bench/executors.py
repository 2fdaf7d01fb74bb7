"""Executors: where and how the jobs of an experiment run.

The runner (:func:`advqa.bench.runner.run_experiment`) plans jobs (:mod:`advqa.bench.jobs`),
hands each phase's list to an executor and receives the results back in its own process, where
ONE writer commits each row to SQLite as it arrives. An executor never touches the results store.

The contract an executor implements (:class:`Executor`)::

    executor.run(jobs, execute, on_row)

- ``jobs``: a list of frozen, picklable job dataclasses (plain values and paths, no tensors or
  models); they may run in any order and in parallel.
- ``execute(job, cache) -> Row``: a module-level (so picklable) pure function. ``cache`` is a
  :class:`~advqa.bench.jobs.WorkerCache` that the executor creates **once per worker process**
  and passes to every job that process runs, so each model is built once per process and fitted
  attack states are loaded once. A worker must not share a cache across processes.
- ``on_row(job, row) -> bool | None``: called **in the calling process**, one call at a time,
  as each job finishes (in completion order). It returns True to stop: the executor then starts
  no further job, cancels queued ones, and returns once running ones are finished or cancelled
  (their rows may be dropped: the rows that matter are already committed, and a rerun resumes).
- An exception raised by ``execute`` propagates out of ``run`` (after the rows already passed to
  ``on_row`` are committed); the runner does not catch it, so a bug stops the run, resumably.
- ``close()`` releases workers; executors are also context managers.

Jobs write their side files (example frames, adversarial videos, fitted states) under their own
``out_dir`` / ``state_path``; a distributed executor needs those paths on a filesystem the
workers share with the caller. Fit jobs run in a phase of their own, before the attack jobs that
read their states, so the states exist before any attack job that reads them is started.

A Ray executor is one new class, in outline::

    class RayExecutor(Executor):
        def __init__(self, address=None, workers=None):
            ray.init(address=address)            # None: an embedded local cluster
            self.actors = [Worker.remote() for _ in range(workers or n_cpus)]

        # Worker: a @ray.remote actor holding one WorkerCache;
        #     def run(self, execute, job): return execute(job, self.cache)

        def run(self, jobs, execute, on_row):
            pending = {actor.run.remote(execute, job): job for actor, job in round robin over idle actors}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                if on_row(job, ray.get(done[0])):
                    for ref in pending: ray.cancel(ref)
                    return
                submit the next job to the actor that finished

The serial executor below is the default: it runs every job in the calling process, in order.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from advqa.bench.jobs import Row, WorkerCache

J = TypeVar("J")

#: execute(job, cache) -> Row
Execute = Callable[[Any, WorkerCache], Row]
#: on_row(job, row) -> True to stop
OnRow = Callable[[Any, Row], "bool | None"]


class Executor(ABC):
    """Runs jobs and hands each row back to ``on_row`` in the calling process (see the module
    docstring for the full contract)."""

    @abstractmethod
    def run(self, jobs: Sequence[J], execute: Execute, on_row: OnRow) -> None:
        """Execute ``jobs`` (any order); call ``on_row(job, row)`` here for each; stop early when it
        returns True."""

    def close(self) -> None:
        """Release workers (nothing to release by default)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every job in this process, one after the other, in plan order, with one cache (``cache``
    may be shared with the caller, e.g. the planner's probe of randomised models)."""

    def __init__(self, cache: WorkerCache | None = None) -> None:
        self.cache = cache if cache is not None else WorkerCache()

    def run(self, jobs: Sequence[J], execute: Execute, on_row: OnRow) -> None:
        for job in jobs:
            if on_row(job, execute(job, self.cache)):
                return


def make_executor(spec: dict[str, Any] | None) -> Executor:
    """The executor an experiment's ``executor:`` entry names (``serial`` or ``ray``)."""
    spec = dict(spec or {"name": "serial"})
    name = spec.pop("name", "serial")
    if name == "serial":
        return SerialExecutor()
    if name == "ray":
        from advqa.bench.ray_executor import RayExecutor

        address = spec.pop("address", None)
        return RayExecutor(address, **spec)
    from advqa.errors import UnknownNameError

    raise UnknownNameError("executor", str(name), ["serial", "ray"])


__all__ = ["Execute", "Executor", "OnRow", "SerialExecutor", "make_executor"]
