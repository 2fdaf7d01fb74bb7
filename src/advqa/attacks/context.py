"""Scoring a video while only a few of its frames change (paper 000's T-frames-per-round attacks).

``context="frame"`` is the official behaviour of paper 000's code: each round feeds the model only
the frames being optimised, as a short video. ``context="video"`` (advqa's default, design.md §3)
scores the whole video with the other frames held at their current values; for frame-wise models
the other frames' features are cached, so a round costs backbone work only on its own frames.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from advqa.attacks.base import QueryCounter
from advqa.errors import InputError

Context = Literal["frame", "video"]


class FrameWindowScorer:
    """Scores candidate replacements of frames ``[start, start + k)`` of one video.

    ``video`` is ``(1, T, 3, H, W)``; :meth:`score` takes candidates ``(N, k, 3, H, W)`` and returns
    the ``(N,)`` scores of the ``N`` videos obtained by substituting them (``context="video"``)
    or of the ``N`` k-frame clips alone (``context="frame"``). Each candidate counts as one query.
    Differentiable with respect to the candidates.
    """

    def __init__(self, model: QueryCounter, video: Tensor, context: Context = "video") -> None:
        if context not in ("frame", "video"):
            raise InputError(f"context must be 'frame' or 'video', got {context!r}")
        self.model = model
        self.context = context
        self.video = video.detach().clone()
        # The cached-features path is taken only when the model offers it as exact
        # (QualityModel.frame_parts); a defence offers none unless it is exact, so it is never bypassed.
        self._parts = model.frame_parts(video.shape[1]) if context == "video" else None
        self._features: Tensor | None = None
        #: feature row of each frame position (-1: a frame the model does not score)
        self._row = torch.full((video.shape[1],), -1, dtype=torch.long)
        if self._parts is not None:
            scored = torch.arange(video.shape[1]) if self._parts.indices is None else self._parts.indices.cpu()
            self._row[scored] = torch.arange(len(scored))
            with torch.no_grad():  # a chunk at a time: no copy of the clip
                c = self._parts.chunk_size
                self._features = torch.cat([self._parts.video_features(self.video[:, scored[i:i + c].to(video.device)])
                                            for i in range(0, len(scored), c)], dim=1)

    @property
    def uses_feature_cache(self) -> bool:
        """Whether other frames' features are cached (frame-wise model, whole-video context)."""
        return self._parts is not None

    def _window(self, start: int, k: int) -> tuple[Tensor, int, int]:
        """Offsets in the window of its scored frames, and their feature rows ``[r0, r1)``."""
        rows = self._row[start:start + k]
        local = torch.nonzero(rows >= 0).flatten()
        if len(local) == 0:
            return local, 0, 0
        return local, int(rows[local[0]]), int(rows[local[-1]]) + 1

    def score(self, frames: Tensor, start: int) -> Tensor:
        """Scores ``(N,)`` of the candidates ``frames`` ``(N, k, 3, H, W)`` placed at ``start``."""
        n, k = frames.shape[:2]
        if self.context == "frame":
            return self.model(frames)
        if self._parts is not None:
            assert self._features is not None
            local, r0, r1 = self._window(start, k)
            feats = self._features.expand(n, -1, -1)
            self.model.count(n)
            if len(local) == 0:  # no frame of the window is scored: the score does not depend on it
                return self._parts.temporal_head(feats) + 0.0 * frames.sum(dim=(1, 2, 3, 4))
            picked = frames[:, local.to(frames.device)]
            new = self._parts.frame_features(picked.reshape(n * len(local), *frames.shape[2:]))
            feats = torch.cat([feats[:, :r0], new.reshape(n, len(local), -1), feats[:, r1:]], dim=1)
            return self._parts.temporal_head(feats)
        full = self.video.expand(n, -1, -1, -1, -1)
        full = torch.cat([full[:, :start], frames, full[:, start + k:]], dim=1)
        return self.model(full)

    def current_score(self) -> float:
        """The score of the current whole video (one query; from the cached features when the
        model offers them, so only its temporal head runs). ``context="frame"`` has no whole-video
        score: this scores the whole current video with the model anyway."""
        with torch.no_grad():
            if self._parts is not None:
                assert self._features is not None
                self.model.count(1)
                return float(self._parts.temporal_head(self._features)[0])
            return float(self.model(self.video)[0])

    def commit(self, frames: Tensor, start: int) -> None:
        """Make ``frames`` ``(1, k, 3, H, W)`` the current values of frames ``[start, start + k)``."""
        k = frames.shape[1]
        self.video[:, start:start + k] = frames.detach()
        if self._parts is not None:
            assert self._features is not None
            local, r0, r1 = self._window(start, k)
            if len(local):
                with torch.no_grad():
                    picked = frames.detach()[:, local.to(frames.device)]
                    self._features[:, r0:r1] = self._parts.frame_features(
                        picked.reshape(len(local), *frames.shape[2:])).reshape(1, len(local), -1)
