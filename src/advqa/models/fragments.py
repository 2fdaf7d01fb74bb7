"""Grid mini-patch sampling ("fragments") and the temporal samplers of FAST-VQA / FasterVQA / DOVER.

Spatial (Wu et al., ECCV 2022, Sec. 3.1, "grid mini-patch sampling"): the frame is cut into a
``7 x 7`` grid; from every cell one ``32 x 32`` patch is taken at a random offset, and the patches
are spliced into a ``224 x 224`` mosaic. Frames of one group of ``aligned`` consecutive frames
share their offsets (temporally aligned fragments). This module reproduces the official
``get_spatial_fragments`` (``random=False`` mode, the one every official script uses):

* ``hlength = H // 7``; grid starts ``hgrid[i] = min(hlength * i, H - 32)`` (same for W);
* offsets ``rnd_h = randint(hlength - 32, (7, 7, T // aligned))`` then
  ``rnd_w = randint(wlength - 32, ...)`` (upper bound exclusive; no draw, zeros, when
  ``hlength <= 32``); the official code draws from the global torch RNG, advqa from a
  :class:`torch.Generator` — ``torch.Generator().manual_seed(0)`` gives the same numbers as
  ``torch.manual_seed(0)``;
* a video smaller than 224 on a side is first upsampled by ``1 / min(H/224, W/224)`` (bilinear,
  ``align_corners=False``, ``scale_factor`` as given) and truncated to the 8-bit grid, as the
  official ``uint8`` cast does;
* everything is indexing, so the mosaic is differentiable with respect to the pixels (the 8-bit
  truncation after upsampling passes gradients straight through).

Temporal: :func:`uniform_clip_indices` is ``SampleFrames`` in test mode (the official demo
``vqa.py``), :func:`segment_frame_indices` is ``FragmentSampleFrames`` (the official benchmark
evaluation, ``FusionDataset`` in ``new_test.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from advqa.errors import InputError

__all__ = [
    "FragmentSpec", "fragment_offsets", "upsample_for_fragments", "assemble_fragments",
    "spatial_fragments", "uniform_clip_indices", "segment_frame_indices",
]


@dataclass(frozen=True)
class FragmentSpec:
    """Fragment grid: ``grid_h x grid_w`` cells, one ``patch_h x patch_w`` patch each, offsets shared
    by groups of ``aligned`` frames (FAST-VQA-B: 7, 7, 32, 32, 32; FasterVQA: aligned 8)."""

    grid_h: int = 7
    grid_w: int = 7
    patch_h: int = 32
    patch_w: int = 32
    aligned: int = 32

    @property
    def size(self) -> tuple[int, int]:
        """Mosaic size ``(grid_h * patch_h, grid_w * patch_w)`` in pixels."""
        return self.grid_h * self.patch_h, self.grid_w * self.patch_w



def sampling_rngs(deterministic: bool, seed: int,
                  generator: torch.Generator | None) -> tuple[np.random.RandomState | torch.Generator | None,
                                                               torch.Generator | None]:
    """The (temporal, spatial) random sources of one video's sampling.

    Deterministic mode re-seeds both per call, as the official scripts do after
    ``np.random.seed(seed)`` and ``torch.manual_seed(seed)``; otherwise both draw from the
    model's own seedable ``generator`` (``None``: fresh randomness).
    """
    if deterministic:
        return np.random.RandomState(seed), torch.Generator().manual_seed(seed)
    return generator, generator

def _groups(frames: int, spec: FragmentSpec) -> tuple[int, int]:
    """(number of offset groups, frames per group); a single frame is its own group (official)."""
    aligned = 1 if frames == 1 else spec.aligned
    if frames % aligned:
        raise InputError(f"fragment sampling needs a multiple of aligned={aligned} frames, got {frames}; "
                         "sample frames with uniform_clip_indices/segment_frame_indices first")
    return frames // aligned, aligned


def fragment_offsets(height: int, width: int, frames: int, spec: FragmentSpec = FragmentSpec(),
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw the absolute patch positions of one video, in the official draw order.

    Args:
        height, width: frame size in pixels (after any upsampling, see :func:`upsample_for_fragments`).
        frames: number of frames that will be sampled (a multiple of ``spec.aligned``).
        generator: source of randomness; ``None`` uses the global torch RNG (as the official code).

    Returns:
        ``(top, left)``, int64 tensors ``(grid_h, grid_w, frames // aligned)``: pixel row / column of
        the top-left corner of each patch.
    """
    n_groups, _ = _groups(frames, spec)
    gh, gw = spec.grid_h, spec.grid_w
    hlen, wlen = height // gh, width // gw
    hgrid = torch.tensor([min(hlen * i, height - spec.patch_h) for i in range(gh)], dtype=torch.long)
    wgrid = torch.tensor([min(wlen * j, width - spec.patch_w) for j in range(gw)], dtype=torch.long)
    shape = (gh, gw, n_groups)
    if hlen > spec.patch_h:
        rnd_h = torch.randint(hlen - spec.patch_h, shape, generator=generator)
    else:
        rnd_h = torch.zeros(shape, dtype=torch.long)
    if wlen > spec.patch_w:
        rnd_w = torch.randint(wlen - spec.patch_w, shape, generator=generator)
    else:
        rnd_w = torch.zeros(shape, dtype=torch.long)
    return hgrid[:, None, None] + rnd_h, wgrid[None, :, None] + rnd_w


def upsample_for_fragments(video: Tensor, spec: FragmentSpec = FragmentSpec()) -> Tensor:
    """Upsample frames smaller than the mosaic, as the official sampler does.

    ``video`` ``(..., H, W)`` float in [0, 1]. When ``r = min(H / 224, W / 224) < 1`` the frames are
    resized bilinearly by ``scale_factor = 1 / r`` (so the short side reaches ~224) and truncated to
    the 8-bit grid (``floor(255 y) / 255``, the official ``uint8`` cast), with a straight-through
    gradient for the truncation. Otherwise ``video`` is returned unchanged.
    """
    h, w = video.shape[-2:]
    size_h, size_w = spec.size
    ratio = min(h / size_h, w / size_w)
    if ratio >= 1:
        return video
    lead = video.shape[:-2]
    planes = video.reshape(1, -1, h, w)
    up = F.interpolate(planes, scale_factor=1 / ratio, mode="bilinear")
    y = up * 255.0
    y = y + (torch.floor(y) - y).detach()
    return (y / 255.0).reshape(*lead, *up.shape[-2:])


def assemble_fragments(video: Tensor, top: Tensor, left: Tensor, spec: FragmentSpec = FragmentSpec(), *,
                       frame_index: Tensor | None = None) -> Tensor:
    """Splice patches into the mosaic.

    Args:
        video: ``(..., T, C, H, W)`` any dtype (indexing only, differentiable for float input).
        top, left: ``(grid_h, grid_w, T // aligned)`` from :func:`fragment_offsets`.
        frame_index: optional int64 ``(T',)``: take frame ``frame_index[t]`` of a ``(T, C, H, W)``
            ``video`` as frame t, gathering only the patch pixels (no full-frame copies of the
            sampled frames, which matters for long high-resolution videos). Offsets then cover T'.

    Returns:
        ``(..., T, C, grid_h * patch_h, grid_w * patch_w)``; mosaic cell (i, j) of frame t is
        ``video[..., t, :, top[i, j, g]:+patch_h, left[i, j, g]:+patch_w]`` with ``g = t // aligned``.
    """
    if frame_index is not None and video.ndim != 4:
        raise InputError(f"frame_index needs a (T, C, H, W) video, got shape {tuple(video.shape)}")
    t = video.shape[-4] if frame_index is None else int(frame_index.numel())
    n_groups, aligned = _groups(t, spec)
    if tuple(top.shape) != (spec.grid_h, spec.grid_w, n_groups) or top.shape != left.shape:
        raise InputError(f"offsets must be shaped {(spec.grid_h, spec.grid_w, n_groups)}, "
                         f"got {tuple(top.shape)} and {tuple(left.shape)}")
    h, w = video.shape[-2:]
    if int(top.max()) + spec.patch_h > h or int(left.max()) + spec.patch_w > w or int(top.min()) < 0 \
            or int(left.min()) < 0:
        raise InputError(f"fragment offsets fall outside the {h}x{w} frame")
    dy = torch.arange(spec.patch_h)
    dx = torch.arange(spec.patch_w)
    parts = []
    for g in range(n_groups):
        # mosaic pixel (i*ph + y, j*pw + x) comes from row top[i,j,g] + y, column left[i,j,g] + x
        rows = top[:, :, g, None] + dy                                                 # (gh, gw, ph)
        cols = left[:, :, g, None] + dx                                                # (gh, gw, pw)
        hidx = rows.permute(0, 2, 1)[:, :, :, None].expand(-1, -1, -1, spec.patch_w)   # (gh, ph, gw, pw)
        widx = cols[:, None, :, :].expand(-1, spec.patch_h, -1, -1)                    # (gh, ph, gw, pw)
        hidx = hidx.reshape(spec.grid_h * spec.patch_h, spec.grid_w * spec.patch_w).to(video.device)
        widx = widx.reshape(spec.grid_h * spec.patch_h, spec.grid_w * spec.patch_w).to(video.device)
        if frame_index is None:
            parts.append(video[..., g * aligned:(g + 1) * aligned, :, :, :][..., hidx, widx])
        else:
            fi = frame_index[g * aligned:(g + 1) * aligned].to(video.device)
            parts.append(video[fi[:, None, None], :, hidx[None], widx[None]].permute(0, 3, 1, 2))
    return parts[0] if n_groups == 1 else torch.cat(parts, dim=-4)


def spatial_fragments(video: Tensor, spec: FragmentSpec = FragmentSpec(),
                      generator: torch.Generator | None = None, *, upsample: bool = True) -> Tensor:
    """The official ``get_spatial_fragments`` on one clip sequence.

    ``video`` ``(T, C, H, W)`` (or ``(..., T, C, H, W)``, all leading entries sharing offsets);
    float in [0, 1] when ``upsample`` may apply (uint8 works when H, W >= 224). Draws offsets with
    :func:`fragment_offsets` from ``generator`` and returns ``(..., T, C, 224, 224)``.
    """
    if upsample:
        if min(video.shape[-2] / spec.size[0], video.shape[-1] / spec.size[1]) < 1:
            if not video.is_floating_point():
                video = video.float() / 255.0
            video = upsample_for_fragments(video, spec)
    top, left = fragment_offsets(video.shape[-2], video.shape[-1], video.shape[-4], spec, generator)
    return assemble_fragments(video, top, left, spec)


def uniform_clip_indices(num_frames: int, clip_len: int = 32, num_clips: int = 4,
                         frame_interval: int = 1) -> np.ndarray:
    """``SampleFrames`` in test mode (official ``vqa.py``): deterministic, evenly spread clips.

    ``avg = (N - clip_len * interval + 1) / num_clips``; clip c starts at ``int(c * avg + avg / 2)``
    (0 for every clip when ``N < clip_len * interval``); indices wrap modulo N.
    Returns int64 ``(num_clips * clip_len,)``.
    """
    if num_frames < 1:
        raise InputError("cannot sample frames from an empty video")
    span = clip_len * frame_interval
    avg = (num_frames - span + 1) / float(num_clips)
    if num_frames > span - 1:
        starts = (np.arange(num_clips) * avg + avg / 2.0).astype(np.int32)
    else:
        starts = np.zeros((num_clips,), dtype=np.int32)
    idx = starts[:, None] + np.arange(clip_len)[None, :] * frame_interval
    return np.mod(idx, num_frames).reshape(-1).astype(np.int64)


def segment_frame_indices(num_frames: int, fsize_t: int = 32, fragments_t: int = 4, frame_interval: int = 2,
                          num_clips: int = 1,
                          rng: np.random.RandomState | torch.Generator | None = None) -> np.ndarray:
    """``FragmentSampleFrames`` (official benchmark evaluation): ``fragments_t`` segments per clip.

    With ``L = N // fragments_t``, segment k is ``k * L + r_k + interval * arange(fsize_t)`` (mod N),
    ``r_k = randint(0, L - fsize_t * interval)`` when ``L > fsize_t * interval``, else 0; repeated
    for ``num_clips`` clips. ``rng``: a ``np.random.RandomState`` reproduces the official draws
    (``np.random.seed(s)`` = ``RandomState(s)``), a ``torch.Generator`` draws with ``torch.randint``,
    ``None`` uses the global torch RNG. Returns int64 ``(num_clips * fragments_t * fsize_t,)``.
    """
    if num_frames < 1:
        raise InputError("cannot sample frames from an empty video")
    length = num_frames // fragments_t
    grids = np.arange(fragments_t, dtype=np.int64) * length
    span = fsize_t * frame_interval
    out = []
    for _ in range(num_clips):
        if length > span:
            if isinstance(rng, np.random.RandomState):
                rnd = rng.randint(0, length - span, size=fragments_t).astype(np.int64)
            else:
                rnd = torch.randint(0, length - span, (fragments_t,), generator=rng).numpy().astype(np.int64)
        else:
            rnd = np.zeros(fragments_t, dtype=np.int64)
        out.append((np.arange(fsize_t)[None, :] * frame_interval + rnd[:, None] + grids[:, None]).reshape(-1))
    return np.mod(np.concatenate(out), num_frames).astype(np.int64)
