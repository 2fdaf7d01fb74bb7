"""The QualityModel contract and model cards.

A :class:`QualityModel` maps a video tensor ``(B, T, 3, H, W)`` (float32, RGB, [0, 1]) to scores
``(B,)`` in the model's own scale. All preprocessing happens inside ``forward`` so that the score
is differentiable with respect to the pixels. Frame-wise models (per-frame backbone + temporal
head) derive from :class:`FrameWiseModel` and expose the two halves.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from advqa.errors import InputError


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's weights come from.

    ``url`` is an http(s) URL or ``package:<module>/<file>`` for a file shipped inside an
    installed Python package; ``sha256`` is the hex digest of the file; ``None`` when the model
    has no released weights file.
    """

    url: str | None = None
    sha256: str | None = None
    filename: str | None = None
    licence: str = "unknown"
    notes: str = ""


@dataclass(frozen=True)
class ModelCard:
    """Everything a user needs to know to use a quality model correctly."""

    name: str
    paper: str
    score_range: tuple[float, float]
    higher_is_better: bool = True
    input: str = ""
    weights: tuple[WeightsSpec, ...] = ()
    licence: str = "unknown"
    rescale: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    #: "video" or "image": what the model was made for (every model scores videos)
    kind: str = "video"
    #: for a defended model: the card of the model it wraps, and the defence's name
    inner: ModelCard | None = None
    defense: str | None = None

    @property
    def score_span(self) -> float:
        """Width of the score range (used to scale losses and gains)."""
        return float(self.score_range[1] - self.score_range[0])


def check_video(video: Tensor, *, name: str = "video", min_frames: int = 1) -> None:
    """Raise :class:`InputError` unless ``video`` is a finite float ``(B, T, 3, H, W)`` in [0, 1]."""
    if not isinstance(video, Tensor):
        raise InputError(f"{name} must be a torch.Tensor shaped (B, T, 3, H, W), got {type(video).__name__}")
    if video.ndim != 5 or video.shape[2] != 3:
        raise InputError(
            f"{name} must be shaped (B, T, 3, H, W) with 3 RGB channels, got {tuple(video.shape)}; "
            "use advqa.io.to_tensor() to convert decoded frames")
    if not video.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0, 1], got dtype {video.dtype}; "
                         "divide uint8 frames by 255 (advqa.io.to_tensor does this)")
    if video.shape[1] < min_frames or video.shape[0] < 1 or video.shape[3] < 1 or video.shape[4] < 1:
        raise InputError(f"{name} is empty or has fewer than {min_frames} frame(s): {tuple(video.shape)}")
    with torch.no_grad():  # frame by frame: no clip-sized temporaries
        lo, hi = math.inf, -math.inf
        for t in range(video.shape[1]):
            frame = video[:, t]
            if not bool(torch.isfinite(frame).all()):
                raise InputError(f"{name} contains NaN or infinite values (frame {t})")
            lo, hi = min(lo, float(frame.min())), max(hi, float(frame.max()))
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{name} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                         "uint8 frames must be divided by 255")


@dataclass(frozen=True)
class FrameParts:
    """The two halves of a model whose score is exactly ``temporal_head(video_features(video))``.

    Offered by :meth:`QualityModel.frame_parts` so attacks that change a few frames at a time can
    cache the other frames' features, and gradients can be computed chunk by chunk. A model (or
    a defence) offers them only when using them gives exactly what ``forward`` computes.

    ``frame_features``: frames ``(N, 3, H, W)`` -> ``(N, D)``; ``temporal_head``: ``(B, T', D)`` ->
    ``(B,)``; ``video_features``: ``(B, T', 3, H, W)`` -> ``(B, T', D)``, chunked. ``indices`` are
    the positions of the ``T'`` frames the model scores (``None``: every frame); the other frames
    do not influence the score.
    """

    frame_features: Callable[[Tensor], Tensor]
    temporal_head: Callable[[Tensor], Tensor]
    video_features: Callable[[Tensor], Tensor]
    chunk_size: int
    indices: Tensor | None = None


class QualityModel(nn.Module):
    """Base class of every no-reference quality model.

    Subclasses set ``card`` and implement :meth:`score`. ``forward`` validates the input and
    calls :meth:`score`; it never switches to ``no_grad`` or train mode.

    Randomness (fragment offsets, random maps) must come from :attr:`generator`, an explicit
    ``torch.Generator`` that a stochastic model always owns. :meth:`seed`, :meth:`rng_state` and
    :meth:`set_rng_state` act on every generator of the model and of the models it wraps, so an
    attack or the runner can make a whole defended model reproducible without knowing its parts.
    """

    card: ClassVar[ModelCard]
    #: Whether two calls on the same input can give different scores (random sampling inside).
    stochastic: ClassVar[bool] = False
    #: The pixel size of one unit of the network's normalised input: ``std`` when ``forward``
    #: normalises ``[0, 1]`` pixels as ``(x - mean) / std`` (a float, or one per RGB channel);
    #: ``None`` when unknown. Used to express steps given in the normalised space (NT's ``h``).
    input_std: ClassVar[float | tuple[float, float, float] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.generator: torch.Generator | None = None
        if self.stochastic:
            self.generator = torch.Generator(device="cpu")
            self.generator.seed()

    # -- randomness ---------------------------------------------------------------------------
    def random_sources(self) -> Iterator[tuple[str, torch.Generator]]:
        """``(module path, generator)`` of every quality model in this one (itself included) that
        draws random numbers."""
        for path, module in self.named_modules():
            gen = getattr(module, "generator", None) if isinstance(module, QualityModel) else None
            if isinstance(gen, torch.Generator):
                yield path, gen

    @property
    def randomized(self) -> bool:
        """Whether this model, or a model it wraps, draws random numbers on each call."""
        return any(True for _ in self.random_sources())

    def seed(self, seed: int | None) -> QualityModel:
        """Seed every generator: this model's with ``seed`` itself, each inner model's with a value
        derived from ``seed`` and its module path; ``None`` draws fresh randomness."""
        import zlib

        for path, gen in self.random_sources():
            if seed is None:
                gen.seed()
            elif not path:
                gen.manual_seed(int(seed))
            else:
                gen.manual_seed((int(seed) * 1_000_003 + zlib.crc32(path.encode())) % (2 ** 63))
        return self

    def rng_state(self) -> dict[str, Tensor]:
        """The state of every generator (see :meth:`set_rng_state`)."""
        return {path: gen.get_state() for path, gen in self.random_sources()}

    def set_rng_state(self, state: dict[str, Tensor]) -> None:
        """Restore generator states saved by :meth:`rng_state`."""
        for path, gen in self.random_sources():
            if path in state:
                gen.set_state(state[path])

    # -- scoring ------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (CPU when it has none)."""
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def forward(self, video: Tensor) -> Tensor:
        """Score videos: ``(B, T, 3, H, W)`` float in [0, 1] -> ``(B,)`` in the model's scale."""
        check_video(video)
        return self.score(video)

    def score(self, video: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Subclass hook: the differentiable score of an already-validated video."""
        raise NotImplementedError

    def frame_parts(self, num_frames: int) -> FrameParts | None:
        """The model's halves for a ``num_frames``-frame video when they compute ``forward``
        exactly (see :class:`FrameParts`); ``None`` otherwise (the default)."""
        return None

    def extra_repr(self) -> str:
        return f"name={self.card.name!r}"


class FrameWiseModel(QualityModel):
    """A per-frame backbone followed by a temporal head (VSFA family).

    ``frame_features`` maps frames ``(N, 3, H, W)`` in [0, 1] to features ``(N, D)``;
    ``temporal_head`` maps features ``(B, T, D)`` to scores ``(B,)``. ``forward`` scores the
    frames :meth:`frame_indices` picks, running the backbone in chunks of ``chunk_size`` frames,
    so inference memory does not grow with the video's length beyond the features themselves.
    """

    chunk_size: int = 16

    def frame_features(self, frames: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def temporal_head(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def frame_indices(self, t: int) -> Tensor:
        """The frames scored for a ``t``-frame video (default: all of them)."""
        return torch.arange(t)

    def video_features(self, video: Tensor) -> Tensor:
        """Per-frame features of a validated video: ``(B, T, 3, H, W)`` -> ``(B, T, D)``, chunked."""
        b, t = video.shape[:2]
        frames = video.reshape(b * t, *video.shape[2:])
        parts = [self.frame_features(frames[i:i + self.chunk_size])
                 for i in range(0, frames.shape[0], self.chunk_size)]
        feats = torch.cat(parts, dim=0)
        return feats.reshape(b, t, -1)

    def score(self, video: Tensor) -> Tensor:
        idx = self.frame_indices(video.shape[1])
        if len(idx) < video.shape[1]:  # the sampled frames, a chunk at a time (no copy of the clip)
            idx = idx.to(video.device)
            return self.temporal_head(torch.cat([self.video_features(video[:, idx[i:i + self.chunk_size]])
                                                 for i in range(0, len(idx), self.chunk_size)], dim=1))
        return self.temporal_head(self.video_features(video))

    def frame_parts(self, num_frames: int) -> FrameParts | None:
        """Offered when the model is deterministic and ``score`` is the base class's (a subclass
        that changes ``score`` must offer its own parts); ``indices`` are the sampled frames."""
        if self.randomized or type(self).score is not FrameWiseModel.score:
            return None
        idx = self.frame_indices(num_frames)
        return FrameParts(self.frame_features, self.temporal_head, self.video_features, self.chunk_size,
                          None if len(idx) == num_frames else idx)


def check_image(images: Tensor, *, name: str = "images") -> None:
    """Raise :class:`InputError` unless ``images`` is a finite float ``(B, 3, H, W)`` in [0, 1]."""
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InputError(f"{name} must be a tensor shaped (B, 3, H, W) with 3 RGB channels, got {shape}; "
                         "use advqa.io.read_image() to load a file")
    check_video(images.unsqueeze(1), name=name)


class ImageQualityModel(QualityModel):
    """Base class of image quality models (IQA): ``forward(images (B, 3, H, W)) -> (B,)``.

    Every image model is also a video metric: ``forward(video (B, T, 3, H, W))`` scores each
    frame (``chunk_size`` frames per call) and pools the per-frame scores with :meth:`pool`
    (the mean by default), so every attack and runner path works on it; an attack sees an image
    as a 1-frame video. Subclasses set ``card`` (``kind="image"``) and implement
    :meth:`score_images`, which does all preprocessing (crops, resizes, normalisation)
    differentiably.
    """

    chunk_size: int = 8

    def score_images(self, images: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Subclass hook: ``(N, 3, H, W)`` validated images in [0, 1] -> ``(N,)`` scores."""
        raise NotImplementedError

    def pool(self, frame_scores: Tensor) -> Tensor:
        """Per-frame scores ``(B, T)`` -> video scores ``(B,)`` (default: the mean)."""
        return frame_scores.mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Score images ``(B, 3, H, W)`` or videos ``(B, T, 3, H, W)`` (frame by frame, pooled)."""
        if isinstance(x, Tensor) and x.ndim == 4:
            check_image(x)
            return self.score_images(x)
        check_video(x)
        return self.score(x)

    def _frame_scores(self, frames: Tensor) -> Tensor:
        return torch.cat([self.score_images(frames[i:i + self.chunk_size])
                          for i in range(0, frames.shape[0], self.chunk_size)]).reshape(-1, 1)

    def score(self, video: Tensor) -> Tensor:
        b, t = video.shape[:2]
        return self.pool(self._frame_scores(video.reshape(b * t, *video.shape[2:])).reshape(b, t))

    def frame_parts(self, num_frames: int) -> FrameParts | None:
        """Exact when deterministic: a frame's "feature" is its score, the head is :meth:`pool`."""
        if self.randomized:
            return None

        def video_features(video: Tensor) -> Tensor:
            b, t = video.shape[:2]
            return self._frame_scores(video.reshape(b * t, *video.shape[2:])).reshape(b, t, 1)

        return FrameParts(self._frame_scores, lambda f: self.pool(f[..., 0]), video_features, self.chunk_size)


def describe(card: ModelCard) -> dict[str, Any]:
    """A JSON-friendly view of a model card (for ``advqa models --json``)."""
    return {
        "name": card.name,
        "paper": card.paper,
        "score_range": list(card.score_range),
        "higher_is_better": card.higher_is_better,
        "input": card.input,
        "licence": card.licence,
        "weights": [w.__dict__ for w in card.weights],
        "rescale": dict(card.rescale),
        "notes": card.notes,
        "kind": card.kind,
        "defense": card.defense,
        "inner": describe(card.inner) if card.inner is not None else None,
    }
