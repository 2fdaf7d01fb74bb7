"""Universal adversarial perturbations of the MSU metrics robustness benchmark (Antsiferova et al.,
"Comparing the Robustness of Modern No-Reference Image- and Video-Quality Metrics to Adversarial
Attacks", AAAI 2024): ``uap``, ``cumulative-uap`` and ``generative-uap``.

A universal perturbation (Moosavi-Dezfooli et al., "Universal Adversarial Perturbations", CVPR
2017) is fitted once on training images (:meth:`~advqa.attacks.base.FittedAttack.fit`): one
256 x 256 RGB perturbation for every input. Training (shared):

- images: ``frames_per_video`` evenly spaced frames of each fit video (default 1, the middle
  one; ``None``: all; an image is a 1-frame video), every image file of a folder
  (``fit(model, folder)``), or with ``fit(model, None)`` the videos of the demo set's train split;
  each is brought to 256 x 256 as the benchmark does: the centre 256 x 256 crop, or, when a side
  is under 512 pixels, a bilinear resize of the whole image;
- batches of ``batch_size`` (8) images, ``ceil(N / batch_size)`` steps per epoch; the image plus
  the perturbation is clamped to [0, 1] with an identity gradient (the benchmark's ``.data``
  clamp); the loss is the benchmark's ``"up"`` (``1 - f / range``, the score range of the model's
  card; raise the predicted quality, also for lower-is-better models) or ``"down"``;
- ``uap`` ("optimised UAP", the benchmark's default): Adam (lr 1e-3) on a ``(3, 256, 256)``
  perturbation initialised to 1e-4, clamped to ``[-eps, eps]`` (eps 0.1) after each step; 5 epochs;
- ``cumulative-uap``: the raw gradient is subtracted (``u <- u - step * grad``, step 1), then the
  clamp; 5 epochs. Its effective step depends on the model's score range;
- ``generative-uap`` (after Poursaeed et al., "Generative Adversarial Perturbations", CVPR
  2018): the U-Net of pix2pix (Isola et al., CVPR 2017; :class:`UNetGenerator`) maps a fixed
  uniform noise image to ``eps * tanh(.)`` (eps 10/255); Adam (lr 1e-3) on the generator's
  weights; 1 epoch; the UAP is the generator's output on that noise after training (dropout
  active, as in the benchmark's code, which leaves the generator in training mode). As there, the noise is clamped to
  ``[-eps, eps]`` after every step, so every step after the first sees ``clamp(U[0, 1), 0, eps)``.

The budget is the benchmark's Linf ball (the clamp); an ``l2`` threat (per-frame RMS) is also
accepted, the perturbation then being rescaled to RMS ``eps`` whenever it leaves the ball.

At test time the perturbation is tiled over each frame (``np.tile`` from the top-left corner) and
added at ``amplitude`` (the benchmark: 0.2, 0.4 or 0.8, three configurations), so its Linf is
``amplitude * max|uap|``: 0.02/0.04/0.08 for ``uap`` and ``cumulative-uap``, 2/4/8 of 255 for
``generative-uap``. The sum is clamped to [0, 1] and, as for every attack, rounded to 8 bits by the
base class. The benchmark does not clamp (so its metric can see pixels outside [0, 1]);
``official_no_clip=True`` also scores the unclamped image and reports it as
``result.extras["unclipped_score"]`` (the returned video is a valid one: clamped and rounded).

Known differences from the benchmark's code, kept available as flags: ``official_batches=True``
draws every step's batch afresh from the whole set (its ``next(iter(loader))`` rebuilds the
shuffled loader at every step, so an epoch is not a pass over the data); ``official_no_clip``.

Pretrained perturbations (the benchmark's ``.npy`` files: ``(256, 256, 3)`` float32 HWC) load
with ``uap_path=...`` or :meth:`UniversalAttack.load_state` on a ``.npy`` path.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advqa.attacks.base import AttackContext, FittedAttack, QueryCounter, fit_videos
from advqa.errors import InputError, WeightsError
from advqa.models.base import QualityModel
from advqa.threat import ThreatModel

log = logging.getLogger(__name__)

#: side of the benchmark's universal perturbations and training crops
UAP_SIDE = 256
#: the benchmark's test amplitudes (three configurations of each UAP attack)
AMPLITUDES = (0.2, 0.4, 0.8)


# --------------------------------------------------------------------------- images
def training_crop(image: Tensor) -> Tensor:
    """The benchmark's training view of an image ``(3, H, W)``: its centre 256 x 256 crop (top-left
    corner ``(int(H/2 - 128), int(W/2 - 128))``), or a bilinear resize to 256 x 256 (no antialiasing,
    as OpenCV's ``resize``) when ``H`` or ``W`` is under 512."""
    h, w = image.shape[-2:]
    if h < 2 * UAP_SIDE or w < 2 * UAP_SIDE:
        return F.interpolate(image[None].float(), size=(UAP_SIDE, UAP_SIDE), mode="bilinear",
                             align_corners=False)[0].clamp_(0.0, 1.0)
    top, left = int(h / 2 - UAP_SIDE / 2), int(w / 2 - UAP_SIDE / 2)
    return image[:, top:top + UAP_SIDE, left:left + UAP_SIDE].float().clone()


def _demo_videos() -> Iterator[Tensor]:
    from advqa.data.demo import load_demo
    from advqa.io import read_video, to_tensor

    for sample in load_demo("train"):
        yield to_tensor(read_video(sample.path).frames)


def frame_picks(num_frames: int, frames_per_video: int | None) -> list[int]:
    """The frames of a ``num_frames``-frame video used for training: ``frames_per_video`` evenly
    spaced ones (the middle frame for 1; frame ``int((i + 0.5) T / k)``), or all for ``None``."""
    if frames_per_video is None or frames_per_video >= num_frames:
        return list(range(num_frames))
    return [int((i + 0.5) * num_frames / frames_per_video) for i in range(frames_per_video)]


def _folder_images(folder: Path) -> Iterator[Tensor]:
    from advqa.io.image import is_image_file, read_image

    if not folder.is_dir():
        raise InputError(f"UAP training images: {folder} is not a folder (pass a folder of PNG/JPEG/BMP files, "
                         "an iterable of videos/images, or None for the demo set's train split)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise InputError(f"UAP training images: no PNG, JPEG or BMP files under {folder}")
    for p in files:
        yield read_image(p).unsqueeze(1)


def training_images(source: Any, frames_per_video: int | None = 1) -> Tensor:
    """Training crops ``(N, 3, 256, 256)`` float32 from ``source``: ``None`` (the demo set's train
    split), a folder (every image file under it, sorted), or what :func:`~advqa.attacks.base.fit_videos`
    accepts (images ``(1, 3, H, W)`` count as 1-frame videos). From each video ``frames_per_video``
    evenly spaced frames are used (:func:`frame_picks`; ``None``: every frame): consecutive frames are
    near-duplicates, and memory grows by 0.75 MiB per training image."""
    if source is None:
        clips: Any = _demo_videos()
    elif isinstance(source, (str, Path)):
        clips = _folder_images(Path(source))
    else:
        def as_videos() -> Iterator[Any]:
            items = source() if callable(source) else source
            for v in items:
                yield v.unsqueeze(1) if isinstance(v, Tensor) and v.ndim == 4 and v.shape[1] == 3 \
                    and v.shape[0] == 1 else v
        clips = fit_videos(as_videos)
    crops = [training_crop(clip[0, t].cpu()) for clip in clips for t in frame_picks(clip.shape[1], frames_per_video)]
    if not crops:
        raise InputError("UAP training: no training images (the fit videos were empty or unreadable)")
    return torch.stack(crops)


def tile(uap: Tensor, height: int, width: int) -> Tensor:
    """``uap`` ``(3, h, w)`` repeated from the top-left corner and cut to ``(3, height, width)``
    (the benchmark's ``np.tile(uap, (H // h + 1, W // w + 1, 1))[:H, :W]``)."""
    h, w = uap.shape[-2:]
    return uap.repeat(1, height // h + 1, width // w + 1)[:, :height, :width]


def load_uap_npy(path: str | Path) -> Tensor:
    """Read a benchmark ``.npy`` perturbation ``(H, W, 3)`` (HWC, float) -> ``(3, H, W)`` float32.

    Raises :class:`InputError` for a missing file, :class:`WeightsError` for an unreadable file,
    a wrong shape or dtype, or NaN/infinite values."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"UAP file {p} does not exist")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear error
        raise WeightsError(f"cannot read UAP file {p} as a numpy array: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise WeightsError(f"UAP file {p}: expected an (H, W, 3) array (the benchmark's 256 x 256 x 3, HWC), "
                           f"got shape {getattr(arr, 'shape', None)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise WeightsError(f"UAP file {p}: expected float values in pixel units ([0, 1] scale), got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise WeightsError(f"UAP file {p} contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).to(torch.float32)


# --------------------------------------------------------------------------- the attacks
def _check_positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return value


def _check_positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a positive number, got {value!r}")
    return float(value)


class UniversalAttack(FittedAttack):
    """Shared fit loop and test-time application of the benchmark's universal perturbations.

    Subclasses implement :meth:`_train` (the update rule). The state is ``{"uap": (3, h, w)}`` with
    ``max|uap| <= threat.eps``; ``amplitude`` scales it at test time. Queries per video: 0 (one with
    ``official_no_clip``, which scores the unclamped image too).
    """

    default_norm: ClassVar[str] = "linf"
    default_eps: ClassVar[float] = 0.1
    #: the benchmark's number of training epochs
    default_epochs: ClassVar[int] = 5
    #: applied at test time only: one fit serves every amplitude (and the unclipped report)
    apply_options: ClassVar[tuple[str, ...]] = ("amplitude", "official_no_clip")

    def __init__(self, threat: ThreatModel | None = None, *, loss: str = "up", amplitude: float = 0.2,
                 epochs: int | None = None, batch_size: int = 8, uap_path: str | None = None,
                 frames_per_video: int | None = 1, official_no_clip: bool = False,
                 official_batches: bool = False, eot: int = 1, seed: int | None = 0) -> None:
        super().__init__(threat, loss=loss, seed=seed)
        if self.threat.norm not in ("linf", "l2"):
            raise InputError(f"{self.name}: a universal perturbation needs an Lp budget fixed in advance (norm='linf', "
                             f"the benchmark's, or 'l2'), got {self.threat.describe()}")
        if not isinstance(loss, str) or loss.strip().lower() not in ("up", "down"):
            raise InputError(f"{self.name}: loss must be 'up' (raise the predicted quality, the benchmark's) or "
                             f"'down'; a universal perturbation has no per-video target, got {loss!r}")
        if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)) or not math.isfinite(amplitude) \
                or not 0 < amplitude <= 1:
            raise InputError(f"{self.name}: amplitude must be a number in (0, 1] (the benchmark uses 0.2, 0.4 and "
                             f"0.8; a larger one would leave the budget eps: raise eps instead), got {amplitude!r}")
        for flag, what in ((official_no_clip, "official_no_clip"), (official_batches, "official_batches")):
            if not isinstance(flag, bool):
                raise InputError(f"{self.name}: {what} must be True or False, got {flag!r}")
        self.loss = loss.strip().lower()
        self.amplitude = float(amplitude)
        self.epochs = _check_positive_int(self.default_epochs if epochs is None else epochs, f"{self.name}: epochs")
        self.batch_size = _check_positive_int(batch_size, f"{self.name}: batch_size")
        self.eot = _check_positive_int(eot, f"{self.name}: eot (model samples per training step)")
        self.frames_per_video = None if frames_per_video is None else _check_positive_int(
            frames_per_video, f"{self.name}: frames_per_video (training frames per fit video, or None for all)")
        self.official_no_clip = official_no_clip
        self.official_batches = official_batches
        self._warned_vanishing = False  # the too-small-to-survive-8-bits warning is given once
        self.uap_path = None if uap_path is None else str(uap_path)
        if self.uap_path is not None:
            self.load_state(self.uap_path)
            self.needs_fit = False  # a pretrained perturbation: the runner must not refit it
            from advqa.models.weights import sha256_file

            self.uap_sha256 = sha256_file(self.uap_path)  # in config(): results follow the file's content

    # -- state -----------------------------------------------------------------------------
    def _check_state(self, state: dict[str, Tensor]) -> None:
        if set(state) != {"uap"}:
            raise InputError(f"{self.name}: expected a state with one entry 'uap', got {sorted(state)}")
        uap = state["uap"]
        if uap.ndim != 3 or uap.shape[0] != 3 or min(uap.shape[1:]) < 1 or not uap.is_floating_point():
            raise InputError(f"{self.name}: the state's 'uap' must be a float (3, H, W) tensor, got "
                             f"{uap.dtype} {tuple(uap.shape)}")
        if not self.threat.contains(uap[None, None]):
            size = float(self.threat.frame_norms(uap[None, None]).max())
            what = "max |uap|" if self.threat.norm == "linf" else "RMS of the uap"
            raise InputError(f"{self.name}: the perturbation's {what} = {size:.4g} exceeds the attack's budget "
                             f"eps = {self.threat.eps:.4g}; create the attack with eps >= {size:.4g}")

    def load_state(self, path: Any) -> UniversalAttack:
        """Read a state written by :meth:`save_state`, or a benchmark ``.npy`` perturbation."""
        if str(path).lower().endswith(".npy"):
            self.load_state_dict({"uap": load_uap_npy(path)})
            return self
        super().load_state(path)
        return self

    @property
    def uap(self) -> Tensor:
        """The fitted perturbation ``(3, h, w)`` (before ``amplitude``)."""
        return self.state["uap"]

    # -- fitting ---------------------------------------------------------------------------
    def _fit(self, model: QualityModel, videos: Any, generator: torch.Generator,
             progress: Callable[[int, int], None] | None) -> dict[str, Tensor]:
        from advqa.attacks.losses import make_loss

        images = training_images(videos, self.frames_per_video)
        loss_fn = make_loss(self.loss, card=model.card, clean_score=float("nan"))
        device = model.device
        n = images.shape[0]
        steps = math.ceil(n / self.batch_size)
        total = steps * self.epochs
        done = [0]

        def batches() -> Iterator[Tensor]:
            for _ in range(self.epochs):
                order = torch.randperm(n, generator=generator)
                for s in range(steps):
                    if self.official_batches:
                        idx = torch.randperm(n, generator=generator)[:self.batch_size]
                    else:
                        idx = order[s * self.batch_size:(s + 1) * self.batch_size]
                    yield images[idx].to(device)
                    done[0] += 1
                    if progress is not None:
                        progress(done[0], total)

        def objective(batch: Tensor, delta: Tensor) -> Tensor:
            """Mean loss over the batch (and ``eot`` model samples) of ``clamp(batch + delta)``,
            the clamp with an identity gradient."""
            x = batch + delta
            x = x + (x.clamp(0.0, 1.0) - x).detach()
            out = loss_fn(model(x.unsqueeze(1))).mean()
            for _ in range(self.eot - 1):
                out = out + loss_fn(model(x.unsqueeze(1))).mean()
            return out / self.eot

        log.info("%s: fitting on %d images (%d epochs x %d steps, batch %d)", self.name, n, self.epochs, steps,
                 self.batch_size)
        uap = self._train(batches(), objective, generator, device)
        return {"uap": uap.detach().reshape(3, UAP_SIDE, UAP_SIDE).cpu().to(torch.float32)}

    def _train(self, batches: Iterator[Tensor], objective: Callable[[Tensor, Tensor], Tensor],
               generator: torch.Generator, device: torch.device) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _project(self, u: Tensor) -> Tensor:
        """``u`` ``(1, 3, h, w)`` onto the budget: the benchmark's clamp to ``[-eps, eps]`` for linf, a
        rescale to RMS ``eps`` for l2."""
        return self.threat.project(u[:, None])[:, 0]

    # -- applying --------------------------------------------------------------------------
    def perturbation(self, height: int, width: int) -> Tensor:
        """``amplitude * uap`` tiled to ``(3, height, width)``."""
        return tile(self.uap, height, width) * self.amplitude

    def _run(self, model: QueryCounter, video: Tensor, ctx: AttackContext) -> Tensor:
        delta = self.perturbation(video.shape[-2], video.shape[-1]).to(video)
        peak = float(self.uap.abs().max()) * self.amplitude
        if peak < 0.5 / 255 and not self._warned_vanishing:
            self._warned_vanishing = True  # once per attack object: every video gets the same delta
            log.warning("%s: amplitude %g x max|uap| %.2g = %.2g/255 rounds to nothing at 8 bits, so this "
                        "attack leaves the inputs unchanged; fit it on more images or for more epochs "
                        "(the benchmark fits on 10k COCO images), or raise the amplitude",
                        self.name, self.amplitude, float(self.uap.abs().max()), peak * 255)
        adv = video + delta
        if self.official_no_clip:
            with torch.no_grad():  # what the benchmark's metric sees: no clamp, no rounding
                model.count(1)
                ctx.extras["unclipped_score"] = float(model.model.score(adv)[0])
        ctx.extras.update(amplitude=self.amplitude, uap_linf=peak)
        return adv.clamp_(0.0, 1.0)


class UAP(UniversalAttack):
    """The benchmark's default ("optimised") UAP: Adam on the perturbation; registered as ``"uap"``.

    ``UAP(threat=LinfBall(0.1), lr=1e-3, epochs=5, batch_size=8, amplitude=0.2, loss="up")``.
    """

    name: ClassVar[str] = "uap"
    summary: ClassVar[str] = ("MSU benchmark's optimised universal perturbation: Adam (lr 1e-3) on a 256x256 "
                              "UAP, Linf 0.1, 5 epochs, tiled and added at amplitude 0.2/0.4/0.8")

    def __init__(self, threat: ThreatModel | None = None, *, lr: float = 1e-3, **options: Any) -> None:
        self.lr = _check_positive(lr, "uap: lr")
        super().__init__(threat, **options)

    def _train(self, batches: Iterator[Tensor], objective: Callable[[Tensor, Tensor], Tensor],
               generator: torch.Generator, device: torch.device) -> Tensor:
        u = torch.full((1, 3, UAP_SIDE, UAP_SIDE), 1e-4, device=device, requires_grad=True)
        opt = torch.optim.Adam([u], lr=self.lr)
        for batch in batches:
            opt.zero_grad()
            objective(batch, u).backward()
            opt.step()
            with torch.no_grad():
                u.copy_(self._project(u))
        return u.detach()


class CumulativeUAP(UniversalAttack):
    """The benchmark's cumulative UAP: raw loss gradients accumulated into the perturbation;
    registered as ``"cumulative-uap"``.

    ``CumulativeUAP(threat=LinfBall(0.1), step=1.0, epochs=5, batch_size=8, amplitude=0.2)``:
    ``u <- clamp(u - step * grad, -eps, eps)`` after every batch.
    """

    name: ClassVar[str] = "cumulative-uap"
    summary: ClassVar[str] = ("MSU benchmark's cumulative universal perturbation: raw gradient accumulation, "
                              "clamp +-0.1, 5 epochs, tiled and added at amplitude 0.2/0.4/0.8")

    def __init__(self, threat: ThreatModel | None = None, *, step: float = 1.0, **options: Any) -> None:
        self.step = _check_positive(step, "cumulative-uap: step")
        super().__init__(threat, **options)

    def _train(self, batches: Iterator[Tensor], objective: Callable[[Tensor, Tensor], Tensor],
               generator: torch.Generator, device: torch.device) -> Tensor:
        u = torch.full((1, 3, UAP_SIDE, UAP_SIDE), 1e-4, device=device)
        for batch in batches:
            ug = u.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(batch, ug), ug)
            u = self._project(u.detach() - self.step * grad)
        return u


class UNetGenerator(nn.Module):
    """pix2pix's U-Net generator as the benchmark's generative UAP uses it: 8 stride-2 4x4
    convolutions (``ngf``, 2, 4, 8, 8, 8, 8, 8 x ``ngf`` channels; instance norm after each but the
    first and the last; LeakyReLU 0.2 after each but the last, also on the maps the skips carry)
    and 8 transposed ones back (ReLU before each, instance norm after each but the last, dropout
    0.5 after the first three, skip concatenations), then tanh. Input and output
    ``(N, 3, 256, 256)``; values in (-1, 1)."""

    def __init__(self, ngf: int = 64, channels: int = 3) -> None:
        super().__init__()
        mult_down = (1, 2, 4, 8, 8, 8, 8, 8)
        self.down = nn.ModuleList()
        cin = channels
        for m in mult_down:
            self.down.append(nn.Conv2d(cin, ngf * m, 4, 2, 1))
            cin = ngf * m
        mult_up = (8, 8, 8, 8, 4, 2, 1)
        self.up = nn.ModuleList()
        for i, m in enumerate(mult_up):
            cin_up = ngf * 8 if i == 0 else ngf * mult_up[i - 1] * 2
            self.up.append(nn.ConvTranspose2d(cin_up, ngf * m, 4, 2, 1))
        self.up.append(nn.ConvTranspose2d(ngf * 2, channels, 4, 2, 1))
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        last = len(self.down) - 1
        for i, conv in enumerate(self.down):
            x = conv(x)
            if 0 < i < last:
                x = F.instance_norm(x)
            if i < last:
                # pix2pix applies its LeakyReLU in place, so the skip connections carry the activated maps
                x = F.leaky_relu(x, 0.2)
                skips.append(x)
        for i, deconv in enumerate(self.up):
            if i > 0:
                x = torch.cat([x, skips[last - i]], dim=1)
            x = deconv(F.relu(x))
            if i < len(self.up) - 1:
                x = F.instance_norm(x)
            if i < 3:
                x = self.dropout(x)
        return torch.tanh(x)


class GenerativeUAP(UniversalAttack):
    """The benchmark's generative UAP: a U-Net maps fixed noise to the perturbation; registered as
    ``"generative-uap"``.

    ``GenerativeUAP(threat=LinfBall(10/255), lr=1e-3, epochs=1, batch_size=8, ngf=64, amplitude=0.2)``.
    The output is ``eps * tanh(.)``, so ``max|uap| <= eps`` (10/255). ``ngf`` (the generator's width)
    is 64 in the benchmark; smaller values train faster.
    """

    name: ClassVar[str] = "generative-uap"
    summary: ClassVar[str] = ("MSU benchmark's generative universal perturbation: a U-Net from fixed noise, "
                              "output x 10/255, 1 epoch, tiled and added at amplitude 0.2/0.4/0.8")
    default_eps: ClassVar[float] = 10 / 255
    default_epochs: ClassVar[int] = 1

    def __init__(self, threat: ThreatModel | None = None, *, lr: float = 1e-3, ngf: int = 64,
                 **options: Any) -> None:
        self.lr = _check_positive(lr, "generative-uap: lr")
        self.ngf = _check_positive_int(ngf, "generative-uap: ngf (generator width)")
        super().__init__(threat, **options)

    def _train(self, batches: Iterator[Tensor], objective: Callable[[Tensor, Tensor], Tensor],
               generator: torch.Generator, device: torch.device) -> Tensor:
        eps = self.threat.eps
        noise = torch.rand((1, 3, UAP_SIDE, UAP_SIDE), generator=generator).to(device)
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
        # the generator's initialisation and dropout use torch's global RNG: fork it, seeded from ours
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = UNetGenerator(self.ngf).to(device).train()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            for batch in batches:
                opt.zero_grad()
                objective(batch, self._project(net(noise) * eps)).backward()
                opt.step()
                noise.clamp_(-eps, eps)
            with torch.no_grad():
                return self._project(net(noise) * eps)


__all__ = ["AMPLITUDES", "CumulativeUAP", "GenerativeUAP", "UAP", "UAP_SIDE", "UNetGenerator", "UniversalAttack",
           "load_uap_npy", "tile", "training_crop", "training_images"]
