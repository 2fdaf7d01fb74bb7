"""STQA-Net: a generative spatio-temporal attack network on JND maps, and its targeted two-head variant.

Hu, Liu, Sang, Wang, "Adversarial attacks on video quality assessment models", Knowledge-Based
Systems 2024 (STQA-Net). What is the paper's: JND maps of the video are the input of a spatial
sub-network; its spatial features feed a temporal sub-network; spatial and temporal features are
fused and decoded into attack weight maps; the perturbation is the JND map times the weight map,
added to the video; a two-branch version produces a score-raising and a score-lowering example
for targeted use.

What is advqa's design (the paper gives no layer sizes and no code is published):

- input per frame: the RGB frame and its JND map (:func:`advqa.jnd.jnd_map`: Yang et al. 2005
  NAMM with Chou & Chen's temporal factor), the JND scaled by ``255 / 10`` to order one;
- spatial encoder: two 3x3 stride-2 convolutions (4 -> ``width`` -> ``2 width`` channels, ReLU), a
  quarter-resolution feature map per frame;
- temporal sub-network: a convolutional GRU (Shi et al., NeurIPS 2015; 3x3 gates) run over the
  frames in order on those features;
- fusion: the spatial features and the GRU state concatenated, a 1x1 convolution, ReLU;
- decoder: two (x2 nearest upsampling, 3x3 convolution) stages back to full resolution, plus a
  learned universal map per head (``3 x 180 x 320``, bilinearly resized to other frame sizes: a
  universal-perturbation component, Moosavi-Dezfooli et al., CVPR 2017, that the content-driven
  decoder modulates), then ``tanh``: weight maps ``W`` in (-1, 1) per colour channel, one set per head;
- ``delta = s * JND * W`` (s the JND budget's scale), so ``|delta| < s * JND`` by construction;
  the base class still enforces the budget after 8-bit rounding;
- the one-head ``stqa`` is conditioned on the direction of the attack's loss for the video
  (``d = +1`` raise, ``-1`` lower; for SRB the side of the boundary, from the clean score the base
  class computes anyway, so no extra query), given as a constant fifth input plane: an
  unconditioned head would have to guess the side from the content (trained that way, or with
  ``delta = d * JND * W``, it did not learn on the demo: the raising and lowering patterns differ);
- training (:meth:`STQA.fit`): white-box against the target model through its differentiable
  forward, Adam on the network's weights only, one short clip (``frames`` consecutive frames,
  random start) per step. ``stqa`` minimises the attack's loss (default: the Score-Reversed
  Boundary loss of Zhang, Ran, Tang, Wang, NeurIPS 2023, Eq. 2-3; the fit videos carry no MOS, so
  the boundary is its fallback of §4.1, the far end of the score range from the clean score);
  ``stqa-targeted`` trains its "raise" head with the ``up`` loss and its "lower" head with the
  ``down`` loss on every clip.

One forward pass of the network per attacked video, and (``verify=True``, default) one model query:
the result, rounded into the budget, is scored once and the clean video is returned instead when
the network's output made the attack's loss worse (so the attack never moves a score the wrong
way); ``verify=False`` makes no query at all.
The states trained against ``litevsfa`` on the demo train split ship in the package
(``resources/stqa_litevsfa.pt``, ``resources/stqa_targeted_litevsfa.pt``; SHA-256 checked when
loaded) and are the default (``weights="shipped"``); ``weights=None`` asks for a fit (``advqa
train-attack stqa --model litevsfa`` or the runner's fit phase).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.attacks.base import AttackContext, FittedAttack, QueryCounter, fit_videos
from advqa.attacks.losses import loss_direction, make_loss
from advqa.errors import InputError, WeightsError
from advqa.jnd import jnd_map
from advqa.models.base import QualityModel
from advqa.threat import JND, MaskBudget, TemporalStep, ThreatModel

log = logging.getLogger(__name__)

#: the JND map is multiplied by this before entering the network (maps are a few /255)
JND_INPUT_SCALE = 255.0 / 10.0

#: shipped states (trained against litevsfa on the demo train split) and their SHA-256
SHIPPED: dict[str, tuple[str, str]] = {
    "stqa": ("stqa_litevsfa.pt", "abf4453df4802f6e177e3a34332244eddc04c7788b1acf4e2a5601883b94fd6b"),
    "stqa-targeted": ("stqa_targeted_litevsfa.pt", "1eb5cf28c776b7f7cad4e618d75e4c431809b7512ca28fe506fb29cdec88b1ed"),
}


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell (Shi et al. 2015's ConvLSTM idea with GRU gates; Cho et al. 2014):
    ``(x (N, C, h, w), state (N, S, h, w)) -> new state``."""

    def __init__(self, channels: int, state: int, kernel: int = 3) -> None:
        super().__init__()
        self.state = state
        self.gates = nn.Conv2d(channels + state, 2 * state, kernel, padding=kernel // 2)
        self.candidate = nn.Conv2d(channels + state, state, kernel, padding=kernel // 2)

    def forward(self, x: Tensor, h: Tensor | None) -> Tensor:
        if h is None:
            h = x.new_zeros(x.shape[0], self.state, *x.shape[-2:])
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        cand = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return (1 - z) * h + z * cand


class STQANet(nn.Module):
    """Frames ``(B, T, 3, H, W)`` in [0, 1] and JND maps ``(B, T, 1, H, W)`` ([0, 1] units) ->
    weight maps ``(B, T, heads, 3, H, W)`` in (-1, 1). Any frame size (padded to a multiple of 4)."""

    #: size of the learned universal map (the demo set's 320x180)
    universal_size: tuple[int, int] = (180, 320)

    def __init__(self, width: int = 16, heads: int = 1, conditioned: bool = False) -> None:
        super().__init__()
        self.width, self.heads, self.conditioned = int(width), int(heads), bool(conditioned)
        w = self.width
        self.universal = nn.Parameter(torch.zeros(1, 3 * self.heads, *self.universal_size))
        self.encoder = nn.Sequential(nn.Conv2d(4 + self.conditioned, w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                                     nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.temporal = ConvGRUCell(2 * w, 2 * w)
        self.fuse = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, w, 3, padding=1),
                                     nn.ReLU(inplace=True), nn.Upsample(scale_factor=2, mode="nearest"),
                                     nn.Conv2d(w, 3 * self.heads, 3, padding=1))

    def forward(self, frames: Tensor, jnd: Tensor, direction: Tensor | None = None) -> Tensor:
        """``direction`` ``(B,)`` of +-1: required by a conditioned network, ignored otherwise."""
        b, t, _, h, w = frames.shape
        ph, pw = (-h) % 4, (-w) % 4
        parts = [frames, jnd * JND_INPUT_SCALE]
        if self.conditioned:
            if direction is None:
                raise InputError("a direction-conditioned STQA network needs direction (+1 raise / -1 lower)")
            parts.append(direction.to(frames).view(b, 1, 1, 1, 1).expand(b, t, 1, h, w))
        x = torch.cat(parts, dim=2).reshape(b * t, 4 + self.conditioned, h, w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        spatial = self.encoder(x).reshape(b, t, 2 * self.width, (h + ph) // 4, (w + pw) // 4)
        state, fused = None, []
        for i in range(t):
            state = self.temporal(spatial[:, i], state)
            fused.append(self.fuse(torch.cat([spatial[:, i], state], dim=1)))
        out = self.decoder(torch.stack(fused, dim=1).flatten(0, 1))[..., :h, :w]
        u = self.universal
        if (h, w) != self.universal_size:
            u = F.interpolate(u, size=(h, w), mode="bilinear", align_corners=False)
        return torch.tanh(out + u).reshape(b, t, self.heads, 3, h, w)


def parameter_count(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters())


def _jnd_of(threat: ThreatModel, video: Tensor) -> tuple[Tensor, float]:
    """The JND map the network scales, and the JND budget's scale: the bound threat's own map when
    the budget is a JND (possibly under a temporal step bound), else a fresh default map with scale 1."""
    inner = threat.inner if isinstance(threat, TemporalStep) else threat
    if isinstance(inner, JND) and inner.mask is not None:
        return inner.mask, inner.scale
    if isinstance(inner, MaskBudget) and inner.mask is not None:
        return inner.mask, inner.scale
    return jnd_map(video), 1.0


def _sha256(path: Path) -> str:
    from advqa.models.weights import sha256_file

    return sha256_file(path)


class STQA(FittedAttack):
    """STQA-Net (Hu et al., Knowledge-Based Systems 2024): a trained network maps a video and its
    JND maps to weight maps ``W``; ``delta = JND * W``. See the module docstring for which parts
    are the paper's and which are advqa's design.

    ``weights``: ``"shipped"`` (default: the state trained against ``litevsfa`` on the demo train
    split, SHA-256 checked), a state file, or ``None`` (fit first). Fit options: ``epochs`` passes
    over the fit videos, ``frames`` consecutive frames per training clip, Adam at ``lr``.
    Budget default: the JND map itself (``norm="jnd"``, scale 1, no cap).
    """

    name: ClassVar[str] = "stqa"
    summary: ClassVar[str] = ("Hu et al. (KBS 2024) STQA-Net: one forward pass of a trained spatio-temporal network, "
                              "delta = JND x weight map")
    default_norm: ClassVar[str] = "jnd"
    default_eps: ClassVar[float | None] = None
    heads: ClassVar[int] = 1

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 weights: str | Path | None = "shipped", width: int = 16, epochs: int = 4, frames: int = 2,
                 lr: float = 1e-2, verify: bool = True, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        if not isinstance(verify, bool):
            raise InputError(f"{self.name}: verify must be True or False, got {verify!r}")
        self.verify = verify
        for value, what in ((width, "width"), (epochs, "epochs"), (frames, "frames")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{self.name}: {what} must be a positive integer, got {value!r}")
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise InputError(f"{self.name}: lr must be positive, got {lr!r}")
        self.width, self.epochs, self.frames, self.lr = width, epochs, frames, float(lr)
        self.weights = None if weights is None else str(weights)
        self._net: STQANet | None = None
        if weights == "shipped":
            self.load_shipped()
        elif weights is not None:
            self.load_state(weights)

    # ------------------------------------------------------------------ state
    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        """Whether the runner must fit this attack first (no state loaded)."""
        return self._state is None

    def load_shipped(self) -> STQA:
        """Load the packaged state trained against litevsfa (raises WeightsError on a hash mismatch)."""
        fname, digest = SHIPPED[self.name]
        path = Path(str(resources.files("advqa.resources") / fname))
        if not path.is_file():
            raise WeightsError(f"{self.name}: the shipped state {fname} is missing from the package; "
                               f"reinstall advqa or retrain it with `advqa train-attack {self.name} --model litevsfa`")
        got = _sha256(path)
        if got != digest:
            raise WeightsError(f"{self.name}: shipped state {path} has SHA-256 {got}, expected {digest}; "
                               "the file is damaged: reinstall advqa")
        return self.load_state(path)  # type: ignore[return-value]

    def _new_net(self) -> STQANet:
        return STQANet(self.width, self.heads, conditioned=self.heads == 1)

    def _check_state(self, state: dict[str, Tensor]) -> None:
        net = self._new_net()
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise InputError(f"{self.name}: state does not fit an STQA network of width {self.width} with "
                             f"{self.heads} head(s): {str(exc).splitlines()[0]}") from None
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        self._net = net

    # ------------------------------------------------------------------ fit
    def _losses(self, model: QualityModel, clean_score: float) -> list[Callable[[Tensor], Tensor]]:
        """One loss per head."""
        return [make_loss(self.loss, card=model.card, clean_score=clean_score)]

    def _fit(self, model: QualityModel, videos: Any, generator: torch.Generator,
             progress: Callable[[int, int], None] | None) -> dict[str, Tensor]:
        clips = [v.detach().cpu() for v in fit_videos(videos)]
        if not clips:
            raise InputError(f"{self.name}: no fit videos")
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        maps = [jnd_map(c) for c in clips]
        torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)))
        net = self._new_net().to(device).train()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        total = self.epochs * len(clips)
        done, start, last = 0, time.perf_counter(), float("nan")
        for epoch in range(self.epochs):
            order = torch.randperm(len(clips), generator=generator).tolist()
            run = 0.0
            for i in order:
                clip, jnd = clips[i], maps[i]
                k = min(self.frames, clip.shape[1])
                s = int(torch.randint(0, clip.shape[1] - k + 1, (1,), generator=generator))
                x, j = clip[:, s:s + k].to(device), jnd[:, s:s + k].to(device)
                with torch.no_grad():
                    clean_score = float(model(x)[0])
                losses = self._losses(model, clean_score)
                sign = torch.tensor([self._sign(model, clean_score, None)])
                w = net(x, j, sign)  # (1, k, heads, 3, H, W)
                adv = (x.unsqueeze(2) + j.unsqueeze(2) * w).clamp(0.0, 1.0)  # (1, k, heads, 3, H, W)
                scores = model(adv.transpose(1, 2).flatten(0, 1))  # one video per head
                loss = sum(fn(scores[h:h + 1]).sum() for h, fn in enumerate(losses))
                grads = torch.autograd.grad(loss, list(net.parameters()))
                for p, g in zip(net.parameters(), grads):
                    p.grad = g
                opt.step()
                run += float(loss.detach())
                done += 1
                if progress is not None:
                    progress(done, total)
            last = run / len(clips)
            log.info("%s fit: epoch %d/%d, mean loss %.4f, %.0f s", self.name, epoch + 1, self.epochs, last,
                     time.perf_counter() - start)
        net.eval()
        return {k: v.detach().cpu() for k, v in net.state_dict().items()}

    # ------------------------------------------------------------------ apply
    def _sign(self, model: Any, clean_score: float, target: float | None) -> float:
        """``d``: +1 where the loss raises the score, -1 where it lowers it (+1 when unknown)."""
        d = loss_direction(self.loss, card=model.card, clean_score=clean_score, target=target)
        return -1.0 if d is not None and d < 0 else 1.0

    def _head(self, model: QueryCounter, ctx: AttackContext) -> int:
        return 0

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        assert self._net is not None
        net = self._net.to(video.device)
        jnd, scale = _jnd_of(ctx.threat, video)
        head = self._head(model, ctx)
        sign = self._sign(model, ctx.clean_score, ctx.target)
        with torch.no_grad():
            w = net(video, jnd, torch.tensor([sign]))[:, :, head]
        ctx.iterations = 1
        ctx.extras.update(network_passes=1, head=head, direction=sign, parameters=parameter_count(net))
        adv = video + scale * jnd * w
        if not self.verify:
            return adv
        adv = ctx.threat.enforce(video, adv)
        with torch.no_grad():
            worse = bool(self._verify_loss(model, ctx, float(model(adv)[0])))
        ctx.extras["kept_clean"] = worse
        return video.clone() if worse else adv

    def _verify_loss(self, model: QueryCounter, ctx: AttackContext, adv_score: float) -> bool:
        """Whether ``adv_score`` is worse than the clean score for this call's goal."""
        ref = torch.tensor([ctx.clean_score, adv_score])
        before, after = ctx.loss(ref).tolist()
        return after > before


Direction = Literal["auto", "up", "down"]


class STQATargeted(STQA):
    """STQA-Net's targeted two-branch variant: one network, two heads (0 raises the score, 1
    lowers it). ``direction``: ``"up"``, ``"down"`` or ``"auto"`` (default: per video, the direction
    of the attack's loss, e.g. toward the SRB boundary; ``target=`` in the call overrides it when
    the loss has no direction)."""

    name: ClassVar[str] = "stqa-targeted"
    summary: ClassVar[str] = ("Hu et al. (KBS 2024) STQA-Net two-branch targeted variant: one network, "
                              "a raise head and a lower head")
    heads: ClassVar[int] = 2

    def __init__(self, threat: ThreatModel | None = None, *, loss: str | Callable[..., Tensor] = "srb",
                 direction: Direction = "auto", weights: str | Path | None = "shipped", width: int = 16,
                 epochs: int = 4, frames: int = 2, lr: float = 1e-2, verify: bool = True,
                 seed: int | None = 0) -> None:
        if direction not in ("auto", "up", "down"):
            raise InputError(f"direction must be 'auto' (per video, from the loss), 'up' or 'down', got {direction!r}")
        self.direction = direction
        super().__init__(threat, loss=loss, weights=weights, width=width, epochs=epochs, frames=frames, lr=lr,
                         verify=verify, seed=seed)

    def _losses(self, model: QualityModel, clean_score: float) -> list[Callable[[Tensor], Tensor]]:
        return [make_loss("up", card=model.card, clean_score=clean_score),
                make_loss("down", card=model.card, clean_score=clean_score)]

    def _sign(self, model: Any, clean_score: float, target: float | None) -> float:
        return 1.0  # each head has its own direction

    def _verify_loss(self, model: QueryCounter, ctx: AttackContext, adv_score: float) -> bool:
        if self.direction == "auto":
            return super()._verify_loss(model, ctx, adv_score)
        return (adv_score - ctx.clean_score) * (1 if self.direction == "up" else -1) < 0

    def _head(self, model: QueryCounter, ctx: AttackContext) -> int:
        if self.direction != "auto":
            return 0 if self.direction == "up" else 1
        sign = loss_direction(self.loss, card=model.card, clean_score=ctx.clean_score, target=ctx.target)
        if not sign and ctx.target is not None:
            sign = 1 if ctx.target > ctx.clean_score else -1
        if not sign:
            raise InputError(f"{self.name}: cannot tell the direction from loss {self.loss!r}; "
                             "pass direction='up' or 'down'")
        return 0 if sign > 0 else 1


def train_default(model_name: str = "litevsfa", *, targeted: bool = False, videos: int = 32, max_frames: int = 8,
                  epochs: int = 4, frames: int = 2, seed: int = 0, out: str | Path | None = None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[STQA, dict[str, Any]]:
    """Fit ``stqa`` (or ``stqa-targeted``) against ``model_name`` on ``videos`` clips of the demo
    train split (first ``max_frames`` frames each), as the shipped states were made. Returns the
    attack and a record (parameter count, fit time in s, SHA-256 of ``out`` when given)."""
    from advqa.bench.jobs import load_clip
    from advqa.data.demo import load_demo
    from advqa.models import create

    model = create(model_name)
    for p in model.parameters():
        p.requires_grad_(False)
    data = load_demo("train").subset(videos, seed)
    cls = STQATargeted if targeted else STQA
    attack = cls(weights=None, epochs=epochs, frames=frames, seed=seed)

    def clips() -> Any:
        for s in data:
            yield load_clip(s.path, max_frames)

    start = time.perf_counter()
    attack.fit(model, list(clips()), generator=torch.Generator().manual_seed(seed), progress=progress)
    record: dict[str, Any] = {"parameters": parameter_count(attack._net) if attack._net else 0,
                              "fit_s": time.perf_counter() - start, "videos": len(data), "model": model_name}
    if out is not None:
        attack.save_state(out)
        record["sha256"] = _sha256(Path(out))
    return attack, record


__all__ = ["ConvGRUCell", "JND_INPUT_SCALE", "SHIPPED", "STQA", "STQANet", "STQATargeted", "parameter_count",
           "train_default"]
