"""Experiment YAML parsing and validation."""
from __future__ import annotations

import pytest

from advqa.bench.config import demo_experiment, experiment_from_dict, load_experiment, parse_number
from advqa.errors import ConfigError, UnknownNameError


def test_fractions():
    assert parse_number("3/255", "eps") == pytest.approx(3 / 255)
    assert parse_number(0.5, "eps") == 0.5
    assert parse_number("0.25", "eps") == 0.25
    for bad in ("abc", "1/0", True, None):
        with pytest.raises(ConfigError):
            parse_number(bad, "eps")


def test_demo_experiment_is_valid():
    exp = demo_experiment()
    assert exp.models[0].name == "litevsfa"
    assert {a.name for a in exp.attacks} == {"whitebox", "patch"}
    assert {(a.norm, round(a.eps * 255, 6)) for a in exp.attacks} == {("l2", 1.0), ("linf", 3.0), ("linf", 5.0)}
    assert exp.datasets[0].split == "test"


def test_yaml_file(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text("models: [litevsfa]\ndatasets: [{name: demo, videos: 3}]\n"
                 "attacks: [{name: pgd, eps: 2/255, iterations: 5}]\nseed: 7\n")
    exp = load_experiment(p)
    assert exp.seed == 7 and exp.datasets[0].videos == 3
    assert exp.attacks[0].eps == pytest.approx(2 / 255)
    assert exp.attacks[0].params == {"iterations": 5}


@pytest.mark.parametrize("data, message", [
    ({"models": [], "datasets": ["demo"], "attacks": ["pgd"]}, "'models' must be a non-empty list"),
    ({"models": ["x"], "datasets": ["demo"], "attacks": ["pgd"], "sed": 1}, "unknown key 'sed'"),
    ({"models": ["x"], "datasets": [{"name": "demo", "videos": 0}], "attacks": ["pgd"]}, "positive whole number"),
    ({"models": ["x"], "datasets": ["demo"], "attacks": [{"name": "pgd", "eps": 3}]}, "budgets are in [0, 1]"),
    ({"models": ["x"], "datasets": ["demo"], "attacks": [{"name": "pgd", "norm": "l1"}]}, "'linf' or 'l2'"),
])
def test_bad_configs(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        experiment_from_dict(data)


def test_unknown_attack_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'whitebox'"):
        experiment_from_dict({"models": ["x"], "datasets": ["demo"], "attacks": ["whitebx"]})


def test_bad_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("models: [a\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")
