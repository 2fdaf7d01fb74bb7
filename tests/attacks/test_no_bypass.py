"""No attack can go around a defence, and the exact fast paths are used where a model offers them.

Every registered attack is run on a defence that counts the videos it scores, wrapped around a
frame-wise model: every model evaluation the attack makes (its queries) goes through the defence.
"""
from __future__ import annotations

import pytest
import torch
from doubles import TinyFrameModel

from advqa.attacks import ATTACKS, available, create
from advqa.attacks.uap import UniversalAttack
from advqa.defenses import Defense


class Counting(Defense):
    """The identity defence that counts every video it scores."""

    name = "counting"

    def __init__(self, model) -> None:
        super().__init__(model)
        self.calls = 0

    def transform(self, video):
        self.calls += int(video.shape[0])
        return video


SMALL = {"iterations": 2, "queries": 24, "frames_per_round": 2, "epochs": 1, "ngf": 8}


def _video(frames: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (1, frames, 3, 24, 32), generator=g).float() / 255


@pytest.mark.parametrize("name", available())
def test_every_attack_goes_through_the_defence(name):
    inner = TinyFrameModel(3)
    for p in inner.parameters():
        p.requires_grad_(False)
    defended = Counting(inner)
    assert inner.frame_parts(4) is not None  # the inner model has a fast path to bypass
    params = {k: v for k, v in SMALL.items() if k in ATTACKS.options(name)}
    attack = ATTACKS.create(name, None, **params)
    if attack.needs_fit:
        attack.fit(defended, [_video()])
    defended.calls = 0
    res = attack(defended, _video(), target=0.2)
    # a universal perturbation is applied without querying the model (its queries were spent fitting)
    assert res.queries > 0 or isinstance(attack, UniversalAttack)
    # the clean and the final evaluation of the base class are not queries
    assert defended.calls == res.queries + 2
    assert not res.extras.get("feature_cache", False) and not res.extras.get("chunked", False)


def _litevsfa():
    from advqa.models import create as create_model

    return create_model("litevsfa")


def _vsfa():
    from advqa.models.vsfa import VSFA

    m = VSFA()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.mark.slow
@pytest.mark.parametrize("build", [_litevsfa, _vsfa], ids=["litevsfa", "vsfa"])
def test_fast_paths_are_used_for_plain_frame_wise_models(build):
    model = build()
    chunk = model.chunk_size
    g = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (1, chunk + 1, 3, 32, 32), generator=g).float() / 255
    assert model.frame_parts(chunk + 1) is not None
    pgd = create("pgd", iterations=1)(model, video)
    assert pgd.extras["chunked"] is True and pgd.queries == 1
    fgsm = create("fgsm")(model, video)
    assert fgsm.extras["chunked"] is True
    wb = create("whitebox", iterations=1, frames_per_round=chunk + 1)(model, video)
    assert wb.extras["feature_cache"] is True and wb.queries == 1
    # the same model behind a defence gets neither fast path, and the same gradient
    defended = Counting(model)
    pgd_def = create("pgd", iterations=1)(defended, video)
    assert pgd_def.extras["chunked"] is False
    assert torch.equal(pgd_def.adversarial, pgd.adversarial)


class RandomShift(Defense):
    """Adds a random constant in [-2/255, 2/255] to the video, drawn from its own generator."""

    name = "random-shift"
    randomized_transform = True

    def __init__(self, model) -> None:
        super().__init__(model, seed=0)
        self.calls = 0

    def transform(self, video):
        self.calls += int(video.shape[0])
        shift = (torch.rand((), generator=self.generator) * 4 - 2) / 255
        return (video + shift).clamp(0, 1)


@pytest.mark.parametrize("name", ["patch", "simba", "pgd", "ifgsm", "whitebox"])
def test_eot_samples_are_queries(name):
    inner = TinyFrameModel(3)
    for p in inner.parameters():
        p.requires_grad_(False)
    params = {k: v for k, v in SMALL.items() if k in ATTACKS.options(name)}
    plain = ATTACKS.create(name, None, **params)(RandomShift(inner), _video(), target=0.2)
    defended = RandomShift(inner)
    eot = ATTACKS.create(name, None, eot=3, **params)(defended, _video(), target=0.2)
    assert defended.calls == eot.queries + 2
    budget = params.get("queries")
    if budget is not None and name in ("patch", "simba"):
        assert eot.queries <= budget  # the query budget holds with EOT samples counted
    else:
        assert eot.queries == 3 * plain.queries


class SampledFrames(TinyFrameModel):
    """Scores every other frame (as litevsfa does for videos over 96 frames)."""

    def frame_indices(self, t):
        return torch.arange(0, t, 2)


def test_fast_paths_are_exact_for_models_that_sample_frames():
    model = SampledFrames(4)
    for p in model.parameters():
        p.requires_grad_(False)
    video = _video(frames=7)
    parts = model.frame_parts(7)
    assert parts is not None and parts.indices.tolist() == [0, 2, 4, 6]
    from advqa.attacks.base import QueryCounter
    from advqa.attacks.context import FrameWindowScorer
    from advqa.attacks.whitebox import autograd_gradient, chunked_gradient

    counter = QueryCounter(model)
    scorer = FrameWindowScorer(counter, video)
    cands = torch.rand(2, 3, 3, 24, 32, generator=torch.Generator().manual_seed(5))
    full = video.expand(2, -1, -1, -1, -1).clone()
    full[:, 1:4] = cands
    assert torch.allclose(scorer.score(cands, 1), model(full), atol=1e-6)
    loss = lambda s: (s - 0.3).abs()  # noqa: E731
    g_chunk = chunked_gradient(counter, parts, loss, chunk=3)(video)
    g_ref = autograd_gradient(lambda v: loss(model(v)))(video)
    assert torch.allclose(g_chunk, g_ref, atol=1e-6) and float(g_chunk[:, 1::2].abs().max()) == 0.0
    wb = create("whitebox", iterations=2)(model, video, target=0.2)
    pgd = create("pgd", iterations=2, chunked=True)(model, video, target=0.2)
    assert wb.extras["feature_cache"] and pgd.extras["chunked"]


def _registered_defences():
    from advqa.defenses import DEFENSES

    return DEFENSES.names()


SMALL_DEFENCE_OPTIONS = {"median-smoothing": {"samples": 4, "batch": 4}}


def _defence_options(defence: str) -> dict:
    """Small options per defence; the model-changing ones (``temporal``, ``secure``) get a freshly
    initialised fusion head for the test model's 16 frame features, so they are covered too."""
    options = dict(SMALL_DEFENCE_OPTIONS.get(defence, {}))
    if defence in ("temporal", "secure"):
        from advqa.defenses.temporal import FusionHead

        torch.manual_seed(0)
        options["weights"] = FusionHead(16, label_scale=1.0, score_range=(0.0, 1.0)).state_dict()
    return options


@pytest.mark.parametrize("defence", _registered_defences())
@pytest.mark.parametrize("name", ["whitebox", "pgd", "patch"])
def test_registered_defences_are_never_bypassed(defence, name):
    """Every registered defence around a frame-wise model offers no inexact fast path, and every
    model evaluation an attack makes is a call of the defence (a forward hook counts them)."""
    from advqa.defenses import DEFENSES

    inner = TinyFrameModel(5)
    for p in inner.parameters():
        p.requires_grad_(False)
    defended = DEFENSES.create(defence, inner, **_defence_options(defence))
    assert defended.frame_parts(4) is None
    calls = [0]
    defended.register_forward_hook(lambda m, args, out: calls.__setitem__(0, calls[0] + int(args[0].shape[0])))
    params = {k: v for k, v in SMALL.items() if k in ATTACKS.options(name)}
    res = ATTACKS.create(name, None, **params)(defended, _video(), target=0.2)
    assert res.queries > 0 and calls[0] == res.queries + 2
