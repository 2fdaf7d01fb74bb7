"""The Ray executor: an experiment's jobs on a local Ray or on a Ray cluster.

``advqa run --executor ray`` (or ``executor: {name: ray, address: ..., workers: N,
gpus_per_job: x}`` in the YAML). With no address (and no ``RAY_ADDRESS``) it starts an embedded
local Ray with this machine's cores and GPUs and no dashboard; the embedded Ray listens on the
loopback interface only. With ``address="auto"`` or ``RAY_ADDRESS`` it joins a running cluster, which is also what happens under ``ray job submit``.
Ray is an optional extra: ``pip install 'advqa[ray]'``.

How it runs (the :class:`~advqa.bench.executors.Executor` contract):

- ``workers`` actors, each a long-lived worker process with ONE
  :class:`~advqa.bench.jobs.WorkerCache`, so a model is loaded once per worker and reused by every
  job that worker runs; jobs are dealt to idle workers in plan order (the plan is grouped by
  model, so a worker mostly sees one model);
- each actor reserves ``cpus_per_job`` CPUs (default 1) and ``gpus_per_job`` GPUs (fractional:
  0.25 lets four small models share a GPU) and sets its torch threads to its CPU share, so jobs
  never oversubscribe the cores;
- jobs carry file paths and plain configs, never tensors: workers read the dataset and the
  weights themselves, so on a cluster those paths must be the same on every node (a shared
  filesystem), and so must the output folder (example frames, adversarial videos, fitted states);
- the driver is the only writer: rows come back to the calling process and are committed to
  SQLite as jobs finish, so a killed driver resumes exactly like the serial runner;
- a worker that dies mid-job (killed, out of memory, a lost node) is replaced and the job is
  retried, at most ``max_retries`` times; then the job is recorded as failed with its reason
  (a ``failed`` row, retried by the next run) and the run goes on. An exception raised by the
  job itself (a bug, bad data) is not retried: it stops the run, as with the serial executor.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

from advqa.bench.executors import Execute, Executor, OnRow
from advqa.errors import ConfigError

log = logging.getLogger(__name__)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs Ray: pip install 'advqa[ray]' (or pip install ray)") from None
    return ray


class _Worker:
    """The body of a Ray actor: one cache per worker process, torch threads set from its CPU share."""

    def __init__(self, threads: int) -> None:
        import torch

        from advqa.bench.jobs import WorkerCache

        torch.set_num_threads(max(1, int(threads)))
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(threads))))
        self.cache = WorkerCache()

    def run(self, execute: Execute, job: Any) -> Any:
        return execute(job, self.cache)

    def info(self) -> dict[str, Any]:
        import torch

        return {"pid": os.getpid(), "threads": torch.get_num_threads(), "builds": self.cache.builds}


def _positive(value: Any, what: str, *, integer: bool = False, allow_zero: bool = False) -> Any:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < 0 or (value == 0 and not allow_zero):
        kind = "whole number" if integer else "number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"ray executor: {what} must be a {kind} {bound}, got {value!r}")
    return value


class RayExecutor(Executor):
    """Runs jobs on Ray actors (see the module docstring).

    Parameters
    ----------
    address:
        ``None``: ``RAY_ADDRESS`` if set, else an embedded local Ray; ``"auto"`` or
        ``"ray://host:10001"`` / ``"host:6379"``: join that cluster.
    workers:
        Number of worker actors (default: the cluster's CPUs divided by ``cpus_per_job``).
    cpus_per_job, gpus_per_job:
        Resources each worker reserves (GPUs may be fractional); torch threads = CPUs.
    max_retries:
        Retries of a job whose worker died, before it is recorded as failed.
    num_cpus, object_store_memory:
        For an embedded local Ray only: its CPUs (default: this machine's) and object store
        size in bytes (default: Ray's).
    runtime_env:
        Passed to ``ray.init`` (e.g. ``{"env_vars": {...}}``).
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, cpus_per_job: float = 1.0,
                 gpus_per_job: float = 0.0, max_retries: int = 2, num_cpus: int | None = None,
                 object_store_memory: int | None = None, runtime_env: dict[str, Any] | None = None) -> None:
        self.ray = ray = import_ray()
        self.cpus_per_job = float(_positive(cpus_per_job, "cpus_per_job"))
        self.gpus_per_job = float(_positive(gpus_per_job, "gpus_per_job", allow_zero=True))
        self.max_retries = int(_positive(max_retries, "max_retries", integer=True, allow_zero=True))
        if workers is not None:
            _positive(workers, "workers", integer=True)
        address = address or os.environ.get("RAY_ADDRESS") or None
        self._owns = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False,
                                      "log_to_driver": False}
            if runtime_env:
                kwargs["runtime_env"] = runtime_env
            if address:
                log.info("joining the Ray cluster at %s", address)
                ray.init(address=address, **kwargs)
            else:
                # an embedded Ray talks to itself over the loopback interface only
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, object_store_memory=object_store_memory,
                         _node_ip_address="127.0.0.1", **kwargs)
                self._owns = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, int(cpus // self.cpus_per_job))
        if self.gpus_per_job and float(ray.cluster_resources().get("GPU", 0)) <= 0:
            raise ConfigError(f"ray executor: gpus_per_job={self.gpus_per_job} but the cluster has no GPU")
        self._actor_cls = ray.remote(_Worker)
        self._actors: list[Any] = []
        self.retries = 0

    def _new_actor(self) -> Any:
        return self._actor_cls.options(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                                       max_restarts=0).remote(max(1, int(self.cpus_per_job)))

    def actors(self, n: int) -> list[Any]:
        """At least ``n`` live actors (kept between runs, so later phases reuse loaded models)."""
        while len(self._actors) < n:
            self._actors.append(self._new_actor())
        return self._actors[:n]

    def info(self) -> list[dict[str, Any]]:
        """Each worker's pid, torch threads and model builds."""
        return self.ray.get([a.info.remote() for a in self._actors])

    def run(self, jobs: Sequence[Any], execute: Execute, on_row: OnRow) -> None:
        from advqa.bench.jobs import failed_row

        ray = self.ray
        if not jobs:
            return
        actors = self.actors(min(self.workers, len(jobs)))
        queue = deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        pending: dict[Any, tuple[int, int]] = {}  # ref -> (actor slot, job index)

        def submit(slot: int) -> None:
            if queue:
                i = queue.popleft()
                pending[actors[slot].run.remote(execute, jobs[i])] = (slot, i)

        for slot in range(len(actors)):
            submit(slot)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            slot, i = pending.pop(ref)
            try:
                row = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the job raised: a bug or bad data, not retried
                self._cancel(pending)
                cause = exc.as_instanceof_cause() if hasattr(exc, "as_instanceof_cause") else exc
                raise cause from None
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as exc:
                attempts[i] += 1
                self.retries += 1
                log.warning("worker died running %s (attempt %d of %d): %s", getattr(jobs[i], "describe",
                            lambda: jobs[i])(), attempts[i], self.max_retries + 1, str(exc).splitlines()[0])
                actors[slot] = self._actors[slot] = self._new_actor()
                if attempts[i] <= self.max_retries:
                    queue.appendleft(i)
                    submit(slot)
                    continue
                row = failed_row(jobs[i], f"worker died {attempts[i]} times: {str(exc).splitlines()[0]}")
            if on_row(jobs[i], row):
                self._cancel(pending)
                return
            submit(slot)

    def _cancel(self, pending: dict[Any, Any]) -> None:
        for ref in pending:
            self.ray.cancel(ref, force=False)
        pending.clear()

    def close(self) -> None:
        for actor in self._actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - an actor that is already gone
                pass
        self._actors.clear()
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
            self._owns = False


__all__ = ["RayExecutor", "import_ray"]
