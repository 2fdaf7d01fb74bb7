"""Turn any PyTorch quality regressor into an advqa model (an attack target) in two lines.

:func:`wrap` takes your ``torch.nn.Module`` and a :class:`~advqa.models.ModelCard` and returns a
:class:`~advqa.models.QualityModel` (``kind="video"``) or :class:`~advqa.models.ImageQualityModel`
(``kind="image"``) that every attack, defence, metric and the runner accept. The wrapper

* validates inputs: images ``(B, 3, H, W)`` / videos ``(B, T, 3, H, W)``, float, finite, in [0, 1];
* applies ``preprocess`` **inside** ``forward``, so gradients reach the pixels: ``"imagenet"``
  (ImageNet mean/std), ``(mean, std)`` per RGB channel, or any differentiable callable (resize,
  crop, normalisation) that maps the [0, 1] tensor to what your network expects;
* reorders videos to ``(B, 3, T, H, W)`` with ``layout="bcthw"`` (3D CNNs), after ``preprocess``;
* picks the score from the module's output with ``output=``: a key of a dict output, an index of
  a tuple/list output, or a callable (``lambda out: out["mos"]``). The score must have shape
  ``(B,)`` or ``(B, 1)``; anything else (``(B, 1000)`` class logits, say) is an error that says
  what to pass;
* freezes the module's parameters and puts it in eval mode; it checks that the score depends
  differentiably on the input (a ``torch.no_grad`` or ``.detach()`` inside your ``forward`` is
  reported, instead of a white-box attack failing later).

An image model also scores videos frame by frame (mean of the frame scores), as every
:class:`~advqa.models.ImageQualityModel` does; an attack sees an image as a 1-frame video.

Worked example: a torchvision ResNet-18 trained as a 0-100 quality regressor (its last layer
replaced by one output), attacked with PGD::

    import torch, torchvision
    import advqa
    from advqa.models import ModelCard, wrap

    net = torchvision.models.resnet18(num_classes=1)            # fc: 512 -> 1
    net.load_state_dict(torch.load("my_iqa.pt", weights_only=True))
    model = wrap(net, ModelCard(name="my-iqa", paper="my regressor", score_range=(0, 100),
                                kind="image"), preprocess="imagenet")

    image = advqa.io.read_image("photo.png")                     # (1, 3, H, W) in [0, 1]
    result = advqa.attacks.create("pgd", eps=4 / 255)(model, image)
    print(result.clean_score, "->", result.adv_score)

A network with several heads (``forward`` returns ``{"mos": ..., "distortion": ...}``) is wrapped
with ``output="mos"``; a fixed input size goes into ``preprocess``, e.g.
``preprocess=lambda x: F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)``
(normalise inside the same callable when the network needs both). Card fields may also be given
as keywords instead of a card: ``wrap(net, name="my-iqa", score_range=(0, 100), kind="image")``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import torch
from torch import Tensor, nn

from advqa.errors import InputError
from advqa.models.base import ImageQualityModel, ModelCard, QualityModel

__all__ = ["Normalise", "WrappedImageModel", "WrappedVideoModel", "wrap"]

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

Output = Union[str, int, Callable[[Any], Tensor], None]
Preprocess = Union[str, tuple[Sequence[float], Sequence[float]], Callable[[Tensor], Tensor], None]


class Normalise(nn.Module):
    """``(x - mean) / std`` per RGB channel; the channel axis is the third from the end, so it
    works on images ``(B, 3, H, W)`` and videos ``(B, T, 3, H, W)`` alike."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t, std_t = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean_t.shape != (3,) or std_t.shape != (3,) or bool((std_t <= 0).any()):
            raise InputError(f"preprocess=(mean, std) needs 3 means and 3 positive stds, got {mean!r}, {std!r}")
        self.register_buffer("mean", mean_t.reshape(3, 1, 1), persistent=False)
        self.register_buffer("std", std_t.reshape(3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def _preprocess(spec: Preprocess) -> Callable[[Tensor], Tensor] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec.lower() != "imagenet":
            raise InputError(f"preprocess={spec!r}: the only named normalisation is 'imagenet'; pass "
                             "(mean, std) or a callable for another one")
        return Normalise(*IMAGENET)
    if isinstance(spec, tuple) and len(spec) == 2 and not callable(spec):
        return Normalise(spec[0], spec[1])
    if callable(spec):
        return spec
    raise InputError(f"preprocess must be None, 'imagenet', (mean, std) or a callable, got {type(spec).__name__}")


def _select(raw: Any, output: Output, batch: int, name: str) -> Tensor:
    """The score ``(B,)`` from a module's raw output (tensor, dict, tuple/list) and ``output=``."""
    if callable(output) and not isinstance(output, (str, int)):
        raw = output(raw)
    elif isinstance(raw, dict):
        if output is None:
            if len(raw) != 1:
                raise InputError(f"{name}: the module returns a dict with keys {sorted(map(str, raw))}; "
                                 "pass output=<key> to choose the score")
            raw = next(iter(raw.values()))
        elif output not in raw:
            raise InputError(f"{name}: output={output!r} is not a key of the module's output "
                             f"(keys: {sorted(map(str, raw))})")
        else:
            raw = raw[output]
    elif isinstance(raw, (tuple, list)):
        if not isinstance(output, int) or isinstance(output, bool):
            raise InputError(f"{name}: the module returns a {type(raw).__name__} of {len(raw)} items; "
                             "pass output=<index> to choose the score")
        if not -len(raw) <= output < len(raw):
            raise InputError(f"{name}: output={output} is out of range for {len(raw)} outputs")
        raw = raw[output]
    elif output is not None:
        raise InputError(f"{name}: output={output!r} selects from a dict or tuple, but the module returns "
                         f"a {type(raw).__name__}")
    if not isinstance(raw, Tensor):
        raise InputError(f"{name}: the selected output is a {type(raw).__name__}, not a tensor")
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1 or raw.shape[0] != batch:
        hint = (" (class logits? pass output=lambda out: ... that maps them to one score per input)"
                if raw.ndim == 2 else "")
        raise InputError(f"{name}: the score must have shape ({batch},) or ({batch}, 1), got "
                         f"{tuple(raw.shape)}{hint}")
    if not raw.is_floating_point():
        raise InputError(f"{name}: the score must be a float tensor, got dtype {raw.dtype}")
    return raw


class _Wrapped:
    """What the image and video wrappers share: the module, its preprocessing and output choice."""

    module: nn.Module
    preprocess: Callable[[Tensor], Tensor] | None
    output: Output

    def _setup(self, module: nn.Module, card: ModelCard, preprocess: Preprocess, output: Output) -> None:
        if not isinstance(module, nn.Module):
            raise InputError(f"wrap() needs a torch.nn.Module, got {type(module).__name__}")
        self.card = card  # type: ignore[misc] - a per-instance card
        self.module = module
        pre = _preprocess(preprocess)
        self.preprocess = pre
        self.output = output
        for p in module.parameters():
            p.requires_grad_(False)
        if isinstance(pre, nn.Module):
            pre.to(next(iter(module.parameters()), torch.empty(0)).device)
        self.eval()  # type: ignore[attr-defined]

    def _call(self, x: Tensor, permute: bool) -> Tensor:
        y = self.preprocess(x) if self.preprocess is not None else x
        if permute:
            y = y.transpose(1, 2)  # (B, T, 3, H, W) -> (B, 3, T, H, W)
        s = _select(self.module(y), self.output, x.shape[0], self.card.name)
        if x.requires_grad and not s.requires_grad:
            raise InputError(f"{self.card.name}: the score does not depend differentiably on the input "
                             "(torch.no_grad, .detach(), .item() or numpy inside the module's forward?); "
                             "gradient attacks need a differentiable forward")
        return s


class WrappedImageModel(_Wrapped, ImageQualityModel):
    """A user module scoring images ``(N, 3, H, W)``; videos are scored frame by frame (mean)."""

    def __init__(self, module: nn.Module, card: ModelCard, *, preprocess: Preprocess = None,
                 output: Output = None, chunk_size: int = 8) -> None:
        super().__init__()
        self.chunk_size = int(chunk_size)
        self._setup(module, card, preprocess, output)

    def score_images(self, images: Tensor) -> Tensor:
        return self._call(images, permute=False)


class WrappedVideoModel(_Wrapped, QualityModel):
    """A user module scoring videos; it receives ``(B, T, 3, H, W)`` or, with
    ``layout="bcthw"``, ``(B, 3, T, H, W)``."""

    def __init__(self, module: nn.Module, card: ModelCard, *, preprocess: Preprocess = None,
                 output: Output = None, layout: str = "btchw") -> None:
        super().__init__()
        if layout not in ("btchw", "bcthw"):
            raise InputError(f"layout must be 'btchw' or 'bcthw', got {layout!r}")
        self.layout = layout
        self._setup(module, card, preprocess, output)

    def score(self, video: Tensor) -> Tensor:
        return self._call(video, permute=self.layout == "bcthw")


def wrap(module: nn.Module, card: ModelCard | None = None, *, preprocess: Preprocess = None,
         output: Output = None, layout: str = "btchw", chunk_size: int = 8,
         **card_fields: Any) -> QualityModel:
    """Make ``module`` an advqa quality model (see the module docstring for a worked example).

    ``card``: a :class:`ModelCard` (``kind="image"`` gives an :class:`ImageQualityModel`), or
    ``None`` with the card's fields as keywords (``name`` and ``score_range`` are required;
    ``paper`` defaults to "user model", ``licence`` to "user-supplied"). ``preprocess``: None,
    ``"imagenet"``, ``(mean, std)`` or a callable applied inside ``forward``. ``output``: dict key,
    tuple index or callable choosing the score. ``layout`` (videos): what the module takes,
    ``"btchw"`` or ``"bcthw"``. ``chunk_size`` (images): frames per call when scoring a video.
    The module's parameters are frozen and it is put in eval mode (it is not copied).
    """
    if card is None:
        missing = [k for k in ("name", "score_range") if k not in card_fields]
        if missing:
            raise InputError(f"wrap() needs a ModelCard or the card fields {', '.join(missing)} as keywords")
        card_fields.setdefault("paper", "user model")
        card_fields.setdefault("licence", "user-supplied")
        try:
            card = ModelCard(**card_fields)
        except TypeError as exc:
            raise InputError(f"wrap(): {exc}; card fields are {', '.join(ModelCard.__dataclass_fields__)}") from None
    elif card_fields:
        raise InputError(f"wrap(): pass either a card or card fields, not both (got {sorted(card_fields)})")
    if not isinstance(card, ModelCard):
        raise InputError(f"card must be an advqa.models.ModelCard, got {type(card).__name__}")
    lo, hi = card.score_range
    if not hi > lo:
        raise InputError(f"card.score_range must be (low, high) with high > low, got {card.score_range}")
    if card.kind == "image":
        if layout != "btchw":
            raise InputError("layout= is for video models; an image model receives (N, 3, H, W)")
        return WrappedImageModel(module, card, preprocess=preprocess, output=output, chunk_size=chunk_size)
    if card.kind == "video":
        return WrappedVideoModel(module, card, preprocess=preprocess, output=output, layout=layout)
    raise InputError(f"card.kind must be 'image' or 'video', got {card.kind!r}")
