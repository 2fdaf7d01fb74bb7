"""Choosing the executor: the YAML key, the CLI flags and the error without Ray."""
from __future__ import annotations

import builtins

import pytest

from advqa.bench.config import experiment_from_dict, parse_executor
from advqa.bench.executors import SerialExecutor, make_executor
from advqa.errors import ConfigError, UnknownNameError

BASE = {"models": ["litevsfa"], "datasets": ["demo"], "attacks": ["fgsm"]}


def test_executor_entries_are_checked():
    assert experiment_from_dict(BASE).executor == {"name": "serial"}
    exp = experiment_from_dict({**BASE, "executor": {"name": "ray", "address": "auto", "workers": 4, "gpus_per_job": 0.25}})
    assert exp.executor == {"name": "ray", "address": "auto", "workers": 4, "gpus_per_job": 0.25}
    assert parse_executor("ray", "x") == {"name": "ray"}
    with pytest.raises(UnknownNameError, match="Did you mean 'ray'"):
        parse_executor("rya", "x")
    with pytest.raises(ConfigError, match="unknown key 'worker'"):
        parse_executor({"name": "ray", "worker": 2}, "x")
    assert isinstance(make_executor(None), SerialExecutor)


def test_without_ray_the_error_says_how_to_install(monkeypatch):
    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"pip install 'advqa\[ray\]'"):
        make_executor({"name": "ray"})


def test_bad_ray_options(monkeypatch):
    pytest.importorskip("ray")
    from advqa.bench.ray_executor import RayExecutor

    for bad in ({"cpus_per_job": 0}, {"gpus_per_job": -1}, {"max_retries": -1}, {"workers": 0}):
        with pytest.raises(ConfigError, match="ray executor"):
            RayExecutor(**bad)
