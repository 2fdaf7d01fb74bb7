"""Datasets: the common Sample type, the real VQA dataset loaders and the built-in demo set."""
from __future__ import annotations

from advqa.data.base import Sample, VideoDataset
from advqa.data.registry import available, load_dataset

__all__ = ["Sample", "VideoDataset", "available", "load_dataset"]
