"""The one Registry type: lazy entries, aliases, defaults, option checks from signatures."""
from __future__ import annotations

import pytest

from advqa.errors import ConfigError, UnknownNameError
from advqa.registry import Registry, accepted_options, forwards_options


class _Base:
    def __init__(self, threat=None, *, seed: int = 0, **kwargs) -> None:
        self.seed = seed


class _Child(_Base):
    def __init__(self, threat=None, *, steps: int = 3, **kwargs) -> None:
        super().__init__(threat, **kwargs)
        self.steps = steps


def _factory_target(*, alpha: int = 1, beta: int = 2) -> tuple[int, int]:
    return alpha, beta


@forwards_options(_factory_target)
def _factory(weights=None, device="cpu", *, gamma: int = 0, **options):
    return (gamma, *_factory_target(**options))


def test_options_follow_kwargs_up_the_bases_and_to_forward_targets():
    assert accepted_options(_Child, skip=("threat",)) == {"steps", "seed"}
    assert accepted_options(_factory, skip=("weights", "device")) == {"gamma", "alpha", "beta"}


def test_lazy_entries_load_on_first_use_and_aliases_resolve():
    reg: Registry = Registry("thing")
    entry = reg.add("ordered", "collections:OrderedDict", aliases=("od",), summary="an ordered dict")
    assert entry.lazy
    assert reg.get("od") is __import__("collections").OrderedDict
    assert not entry.lazy and reg.resolve("od") == "ordered" and "od" in reg
    assert reg.listing() == [("ordered", "an ordered dict")]


def test_create_merges_defaults_and_rejects_unknown_options_with_suggestions():
    reg: Registry = Registry("attack", skip=("threat",))
    reg.add("child", _Child, defaults={"steps": 7})
    obj = reg.create("child", None, seed=4)
    assert (obj.steps, obj.seed) == (7, 4)
    with pytest.raises(UnknownNameError, match="Did you mean 'steps'") as info:
        reg.create("child", None, stpes=2)
    assert info.value.kind == "child option"
    with pytest.raises(UnknownNameError, match="Did you mean 'child'"):
        reg.get("chlid")


def test_bad_values_become_config_errors_and_names_are_unique():
    reg: Registry = Registry("model", skip=("weights", "device"))
    reg.add("f", _factory)
    assert reg.create("f", gamma=1, alpha=5) == (1, 5, 2)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("f", _factory_target)
    reg.add("f", _factory)  # the same target again is fine
    reg.remove("f")
    assert "f" not in reg and reg.names() == []
    reg.add("g", _factory)
    with pytest.raises(ConfigError, match="bad options for model 'g'"):
        reg.create("g", 1, 2, 3)  # the target's own TypeError, reported as a config error


def test_every_kind_lists_from_the_registry():
    from advqa.attacks import ATTACKS
    from advqa.data.registry import DATASETS
    from advqa.defenses import DEFENSES
    from advqa.models import MODELS

    for reg in (ATTACKS, DATASETS, DEFENSES, MODELS):
        assert isinstance(reg, Registry)
    assert {"whitebox", "patch", "pgd"} <= set(ATTACKS.names())
    assert {"litevsfa", "vsfa", "dover"} <= set(MODELS.names())
    assert {"demo", "konvid-1k"} <= set(DATASETS.names())
    # every model option is checked from its factory's signature before anything is built
    from advqa.models import create

    with pytest.raises(UnknownNameError, match="backbone_weights"):
        create("litevsfa", backbone_weight="x")
    with pytest.raises(UnknownNameError, match="checkpointing"):
        create("dover", checkpointin=True)
