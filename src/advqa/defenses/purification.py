"""Input purification: defences that transform the video before the inner model scores it.

Each defence wraps any quality model and applies one transformation from :mod:`advqa.transforms`
to every input: JPEG re-encoding of each frame, an H.264 round trip, Gaussian blur, a median
filter, bit-depth reduction, a down-then-up resize, and the random resize-and-pad of Xie, Wang,
Zhang, Ren, Yuille, "Mitigating Adversarial Effects Through Randomization", ICLR 2018.

Against an attacker who ignores them (the *naive* attacker, who attacks the undefended model and
hands the result to the defended one) such transformations remove much of a small perturbation.
They give no security against an *adaptive* attacker (Athalye, Carlini, Wagner, "Obfuscated
Gradients Give a False Sense of Security", ICML 2018): a transformation without a useful
gradient is attacked with BPDA (Backward Pass Differentiable Approximation: the transformation
in the forward pass, a differentiable stand-in in the backward pass), a randomised one with EOT
(expectation over transformation: ``eot=`` of every attack averages gradients over fresh draws).
So every defence here states its gradient:

============================  =================  ==============================================
defence (registry name)       forward pass       backward pass (gradient estimate)
============================  =================  ==============================================
``jpeg``                      Pillow JPEG        identity (BPDA; Athalye et al.'s choice for JPEG)
``h264``                      libx264 round trip identity (BPDA)
``blur``                      scipy Gaussian     the same Gaussian filter in torch: the blur is
                                                 linear, so this is its exact Jacobian
``median``                    torch median       identity (BPDA): the median's own Jacobian is a
                                                 0/1 selection that jumps with every pixel change
                                                 and breaks ties arbitrarily on 8-bit frames
``bitdepth``                  rounding           identity (BPDA): rounding has zero gradient
``resize``                    down-up, 8-bit     the same down-up resize without the rounding
``random-resize-pad``         resize + pad       exact (nearest resize and padding are
                                                 differentiable); the randomness needs EOT
============================  =================  ==============================================
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from advqa import transforms as T
from advqa.defenses.base import Defense
from advqa.errors import InputError
from advqa.models.base import QualityModel
from advqa.transforms._checks import check_int, check_number
from advqa.transforms.filters import MODES, reflect_index

__all__ = ["BitDepthReduction", "DownUpResize", "GaussianBlur", "H264Reencoding", "JpegReencoding",
           "MedianFilter", "RandomResizePad", "gaussian_kernel"]


class JpegReencoding(Defense):
    """Re-encodes every frame as a JPEG at ``quality`` (1-100, default 75) and decodes it back.

    Quality 75 is the setting of Guo, Rana, Cisse, van der Maaten, "Countering Adversarial Images
    using Input Transformations", ICLR 2018, and Pillow's default. Not differentiable: the
    backward pass is the identity (BPDA), which is how Athalye et al. (ICML 2018) attack it.
    """

    name: ClassVar[str] = "jpeg"
    summary: ClassVar[str] = ("JPEG re-encoding of every frame (quality 75, Guo et al. ICLR 2018); "
                              "BPDA gradient: identity")
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, quality: int = 75) -> None:
        super().__init__(model)
        self.quality = check_int(quality, "jpeg defence", "quality", 1, 100)

    def transform(self, video: Tensor) -> Tensor:
        return T.jpeg(video, self.quality)


class H264Reencoding(Defense):
    """Re-encodes each video with H.264 (libx264, preset medium, 4:2:0) at constant rate factor
    ``crf`` (0-51, default 23) and decodes it back; ``fps`` (frames per second) of the coded clip.

    CRF 23 is libx264's own default rate factor (the x264 encoder and FFmpeg's H.264 encoding
    guide), the quality a video gets when re-uploaded without settings. Not differentiable: the
    backward pass is the identity (BPDA). Every call runs the ffmpeg binary once per video.
    """

    name: ClassVar[str] = "h264"
    summary: ClassVar[str] = "H.264 re-encoding (libx264 CRF 23, its default); BPDA gradient: identity"
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, crf: int = 23, fps: float = 25.0) -> None:
        super().__init__(model)
        self.crf = check_int(crf, "h264 defence", "crf", 0, 51)
        self.fps = check_number(fps, "h264 defence", "fps", 0.0, 1000.0, lo_open=True)

    def transform(self, video: Tensor) -> Tensor:
        return T.h264(video, self.crf, fps=self.fps)


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """The 1-D Gaussian weights of :func:`advqa.transforms.gaussian_blur` (scipy's): ``exp(-k^2 /
    2 sigma^2)`` for ``|k| <= int(4 sigma + 0.5)``, normalised to sum 1. Shape ``(2 r + 1,)``."""
    r = int(4 * sigma + 0.5)
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (k / sigma) ** 2)
    return (w / w.sum()).to(dtype)


def _blur_torch(video: Tensor, sigma: float) -> Tensor:
    """:func:`advqa.transforms.gaussian_blur` (without its final clamp, a no-op on [0, 1]
    inputs) as differentiable torch operations: separable convolution with mirrored edges."""
    frames = video.reshape(-1, 1, *video.shape[-2:])
    w = gaussian_kernel(sigma, video.dtype).to(video.device)
    r = (w.numel() - 1) // 2
    h, wd = frames.shape[-2:]
    rows = reflect_index(h, r, r).to(video.device)
    cols = reflect_index(wd, r, r).to(video.device)
    x = F.conv2d(frames[:, :, rows], w.view(1, 1, -1, 1))
    x = F.conv2d(x[:, :, :, cols], w.view(1, 1, 1, -1))
    return x.reshape(video.shape)


class GaussianBlur(Defense):
    """Blurs every frame with a Gaussian of standard deviation ``sigma`` pixels (> 0, at most 10;
    default 1), edges mirrored.

    The forward pass is :func:`advqa.transforms.gaussian_blur` (scipy, the library's reference
    filter). The blur is linear and differentiable, so the backward pass is not an approximation:
    it is the vector-Jacobian product of the same filter written in torch
    (:meth:`approximation`), i.e. the exact gradient. An attacker sees the defended model as it is.
    """

    name: ClassVar[str] = "blur"
    summary: ClassVar[str] = "Gaussian blur of every frame (sigma 1 px); gradient: the blur's exact Jacobian"
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, sigma: float = 1.0) -> None:
        super().__init__(model)
        self.sigma = check_number(sigma, "blur defence", "sigma (pixels)", 0.0, 10.0, lo_open=True)

    def transform(self, video: Tensor) -> Tensor:
        return T.gaussian_blur(video, self.sigma)

    def approximation(self, video: Tensor) -> Tensor:
        return _blur_torch(video, self.sigma)


class MedianFilter(Defense):
    """Median of every ``kernel x kernel`` window of each frame and channel (2-9, default 2):
    :func:`advqa.transforms.median_filter`, scipy's windows and ranks.

    2 x 2 is the median smoothing Xu, Evans, Qi ("Feature Squeezing: Detecting Adversarial
    Examples in Deep Neural Networks", NDSS 2018) use on ImageNet-sized images. Backward pass:
    the identity (BPDA). The median's own gradient (all of it to the one pixel each window
    selects) is exact only until a pixel changes rank, and 8-bit frames are full of ties that
    the sort breaks arbitrarily, so it is a poor guide for a multi-step attack; the identity is
    Athalye et al.'s approximation for such filters.
    """

    name: ClassVar[str] = "median"
    summary: ClassVar[str] = ("median filter of every frame (2x2, Xu et al. Feature Squeezing NDSS 2018); "
                              "BPDA gradient: identity")
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, kernel: int = 2) -> None:
        super().__init__(model)
        self.kernel = check_int(kernel, "median defence", "kernel (pixels)", 2, 9)

    def transform(self, video: Tensor) -> Tensor:
        return T.median_filter(video, self.kernel)


class BitDepthReduction(Defense):
    """Reduces every value to ``bits`` bits (1-7, default 5): :func:`advqa.transforms.bit_depth`,
    ``2^bits`` evenly spaced levels.

    5 bits is the colour-depth squeezing Xu, Evans, Qi ("Feature Squeezing", NDSS 2018) use on
    ImageNet. Rounding has zero gradient almost everywhere: the backward pass is the identity
    (BPDA).
    """

    name: ClassVar[str] = "bitdepth"
    summary: ClassVar[str] = ("bit-depth reduction to 5 bits (Xu et al. Feature Squeezing NDSS 2018); "
                              "BPDA gradient: identity")
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, bits: int = 5) -> None:
        super().__init__(model)
        self.bits = check_int(bits, "bitdepth defence", "bits", 1, 7)

    def transform(self, video: Tensor) -> Tensor:
        return T.bit_depth(video, self.bits)


class DownUpResize(Defense):
    """Shrinks every frame by ``factor`` (in (1, 8], default 2) and scales it back up, the small
    frames stored on the 8-bit grid as a real low-resolution copy is
    (:func:`advqa.transforms.down_up_resize` with ``quantize=True``); ``mode``: bicubic
    (default), bilinear or nearest.

    The rounding makes the forward pass non-differentiable; the backward pass is the VJP of the
    same down-up resize without rounding (:meth:`approximation`), which differs from the forward
    pass by about one 8-bit level at most (half a level of rounding per stage).
    """

    name: ClassVar[str] = "resize"
    summary: ClassVar[str] = ("down-then-up resize by 2 (bicubic, 8-bit intermediate); "
                              "gradient: the differentiable resize")
    differentiable: ClassVar[bool] = False

    def __init__(self, model: QualityModel, *, factor: float = 2.0, mode: str = "bicubic") -> None:
        super().__init__(model)
        self.factor = check_number(factor, "resize defence", "factor", 1.0, 8.0, lo_open=True)
        if mode not in MODES:
            raise InputError(f"resize defence: mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode

    def transform(self, video: Tensor) -> Tensor:
        return T.down_up_resize(video, self.factor, mode=self.mode, quantize=True)

    def approximation(self, video: Tensor) -> Tensor:
        return T.down_up_resize(video, self.factor, mode=self.mode, quantize=False)


class RandomResizePad(Defense):
    """Random resizing, then random zero padding to a fixed size, redrawn on every call (Xie,
    Wang, Zhang, Ren, Yuille, "Mitigating Adversarial Effects Through Randomization", ICLR 2018).

    The paper's proportions, carried over to ``H x W`` frames: Inception's 299 x 299 input is
    resized to ``rnd x rnd`` with ``rnd`` drawn uniformly from the integers in [299, 331) and
    zero-padded at a random offset to 331 x 331. Here the output is ``Ho x Wo = round(H *
    max_scale) x round(W * max_scale)`` (``max_scale`` in (1, 2], default 331/299; at least one
    pixel larger than the input on each side), the resized height ``h`` is drawn uniformly from the
    integers in ``[H, Ho)``, the width keeps the aspect ratio (``w = round(W h / H)``, at most
    ``Wo - 1``), and the top and left padding uniformly from ``[0, Ho - h]`` and ``[0, Wo - w]``.
    One draw per video and call, shared by all its frames (a draw per frame would shake the
    content from frame to frame, which a video model reads as motion). Resizing is nearest
    neighbour, as in the authors' challenge code (``mode`` also takes bilinear, bicubic); the
    padding value is ``pad_value`` (default 0, black, as the paper says; the authors' code pads
    zeros in the network's [-1, 1] input scale, i.e. mid-grey 0.5).

    ``(B, T, 3, H, W)`` -> ``(B, T, 3, Ho, Wo)``. Resizing and padding are differentiable, so the
    gradient is exact (``differentiable = True``); what an adaptive attacker needs is EOT over the
    draws, which come from the defence's own generator.
    """

    name: ClassVar[str] = "random-resize-pad"
    summary: ClassVar[str] = ("random resize (x1 to x331/299) and random zero padding to a fixed size, "
                              "redrawn per call (Xie et al. ICLR 2018); exact gradient, needs EOT")
    randomized_transform: ClassVar[bool] = True

    def __init__(self, model: QualityModel, *, max_scale: float = 331 / 299, pad_value: float = 0.0,
                 mode: str = "nearest", generator: torch.Generator | None = None,
                 seed: int | None = None) -> None:
        super().__init__(model, generator=generator, seed=seed)
        self.max_scale = check_number(max_scale, "random-resize-pad defence", "max_scale", 1.0, 2.0, lo_open=True)
        self.pad_value = check_number(pad_value, "random-resize-pad defence", "pad_value", 0.0, 1.0)
        if mode not in MODES:
            raise InputError(f"random-resize-pad defence: mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(Ho, Wo)`` for ``height x width`` frames."""
        return (max(height + 1, int(round(height * self.max_scale))),
                max(width + 1, int(round(width * self.max_scale))))

    def draw(self, height: int, width: int) -> tuple[int, int, int, int]:
        """One draw ``(h, w, top, left)`` for a video of ``height x width`` frames."""
        ho, wo = self.output_size(height, width)
        h = int(torch.randint(height, ho, (1,), generator=self.generator))
        w = min(wo - 1, max(width, int(round(width * h / height))))
        top = int(torch.randint(0, ho - h + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, wo - w + 1, (1,), generator=self.generator))
        return h, w, top, left

    def transform(self, video: Tensor) -> Tensor:
        height, width = video.shape[-2:]
        ho, wo = self.output_size(height, width)
        out = []
        for b in range(video.shape[0]):
            h, w, top, left = self.draw(height, width)
            resized = T.resize(video[b], (h, w), mode=self.mode)
            out.append(F.pad(resized, (left, wo - w - left, top, ho - h - top), value=self.pad_value))
        return torch.stack(out)

