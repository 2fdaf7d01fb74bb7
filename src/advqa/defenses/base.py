"""The defence seam: a :class:`Defense` is a quality model that wraps a quality model.

``Defense.forward(video)`` applies the defence's input transformation, then scores the result
with the inner model, so every attack, metric and runner path works on a defended model
unchanged and can never reach the inner model around the defence. A defence owns two things an
attack must not go around:

- **its randomness**: a randomised defence draws from its own ``torch.Generator``
  (:attr:`Defense.generator`), passed in or created and seeded by the wrapper; ``seed``,
  ``rng_state`` and ``set_rng_state`` of the outermost model reach it (see
  :class:`~advqa.models.base.QualityModel`);
- **its gradient estimate**: a transformation that is not differentiable (re-encoding, rounding,
  a median) is applied in the forward pass, and the backward pass uses
  :meth:`Defense.estimate_gradient` instead — the identity by default, i.e. BPDA (Athalye,
  Carlini, Wagner, "Obfuscated Gradients Give a False Sense of Security", ICML 2018), or the
  gradient of a differentiable approximation (:meth:`Defense.approximation`), as ART's
  ``Preprocessor.estimate_gradient`` does.

A defence offers no cached-feature fast path (:meth:`frame_parts` returns ``None``) unless it
overrides it with one that is exact.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import torch
from torch import Tensor

from advqa.errors import InputError
from advqa.models.base import FrameParts, ModelCard, QualityModel


class _Estimated(torch.autograd.Function):
    """Forward: the defence's transformation (no graph); backward: its gradient estimate."""

    @staticmethod
    def forward(ctx: Any, video: Tensor, defense: Defense) -> Tensor:  # noqa: D102
        ctx.defense = defense
        ctx.save_for_backward(video)
        with torch.no_grad():
            return defense.transform(video)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # noqa: D102
        (video,) = ctx.saved_tensors
        return ctx.defense.estimate_gradient(video, grad), None


class Defense(QualityModel):
    """A quality model that transforms its input, then scores it with ``model``.

    Subclasses set :attr:`name` (and :attr:`summary`) and implement :meth:`transform`
    ``(B, T, 3, H, W) -> (B, T', 3, H', W')`` in [0, 1]. ``differentiable = False`` routes the
    backward pass through :meth:`estimate_gradient`. ``randomized = True`` gives the defence a
    generator of its own (``generator=`` passes one in, ``seed=`` seeds it); a randomised
    transformation must draw every random number from :attr:`generator`.
    """

    name: ClassVar[str] = "defense"
    summary: ClassVar[str] = ""
    #: whether :meth:`transform` is differentiable (otherwise BPDA through estimate_gradient)
    differentiable: ClassVar[bool] = True
    #: whether :meth:`transform` draws random numbers (then the defence owns a generator)
    randomized_transform: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, generator: torch.Generator | None = None,
                 seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(model, QualityModel):
            raise InputError(f"{type(self).__name__} wraps a QualityModel, got {type(model).__name__}")
        self.model = model
        if self.randomized_transform:
            if generator is not None and not isinstance(generator, torch.Generator):
                raise InputError(f"generator must be a torch.Generator, got {type(generator).__name__}")
            self.generator = generator or torch.Generator(device="cpu")
            if generator is None:
                if seed is None:
                    self.generator.seed()
                else:
                    self.generator.manual_seed(int(seed))
        elif generator is not None or seed is not None:
            raise InputError(f"defence {self.name!r} is deterministic: it takes no generator or seed")
        self.eval()

    # -- the card -----------------------------------------------------------------------------
    @property
    def card(self) -> ModelCard:  # type: ignore[override]
        """The inner model's card, renamed ``model+defence+...`` (defences in the order they see
        the input) and keeping the inner card inside."""
        inner = self.model.card
        root = unwrap(self).card
        chain = self.name if not inner.defense else f"{self.name}+{inner.defense}"  # in input order
        notes = f"{root.name} defended by {chain}" + (f"; {self.name}: {self.summary}" if self.summary else "")
        return replace(inner, name=f"{root.name}+{chain}", notes=notes, inner=inner, defense=chain,
                       weights=inner.weights)

    @property
    def inner(self) -> QualityModel:
        """The wrapped model."""
        return self.model

    # -- what subclasses implement ------------------------------------------------------------
    def transform(self, video: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The defence's input transformation of a validated video (draws from :attr:`generator`)."""
        raise NotImplementedError

    def approximation(self, video: Tensor) -> Tensor | None:
        """A differentiable approximation of :meth:`transform` whose gradient the backward pass
        uses; ``None`` (default) for the identity (straight-through BPDA)."""
        return None

    def estimate_gradient(self, video: Tensor, grad: Tensor) -> Tensor:
        """The gradient w.r.t. ``video`` given ``grad`` w.r.t. the transformed video.

        Default: the vector-Jacobian product of :meth:`approximation`, or ``grad`` itself (BPDA
        with the identity) when there is none or shapes differ.
        """
        with torch.enable_grad():
            x = video.detach().requires_grad_(True)
            approx = self.approximation(x)
            if approx is None:
                if grad.shape != video.shape:
                    raise InputError(f"defence {self.name!r} changes the video's shape; it must supply "
                                     "approximation() for its gradient estimate")
                return grad
            (g,) = torch.autograd.grad(approx, x, grad)
        return g

    # -- the model ----------------------------------------------------------------------------
    def defend(self, video: Tensor) -> Tensor:
        """The video the inner model sees, with the defence's gradient estimate attached."""
        if self.differentiable:
            return self.transform(video)
        if torch.is_grad_enabled() and video.requires_grad:
            return _Estimated.apply(video, self)
        with torch.no_grad():
            return self.transform(video)

    def score(self, video: Tensor) -> Tensor:
        return self.model(self.defend(video))

    def frame_parts(self, num_frames: int) -> FrameParts | None:
        return None

    def extra_repr(self) -> str:
        return f"name={self.card.name!r}"


def unwrap(model: QualityModel) -> QualityModel:
    """The innermost undefended model of a chain of defences."""
    while isinstance(model, Defense):
        model = model.model
    return model


__all__ = ["Defense", "unwrap"]
