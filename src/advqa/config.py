"""Process-wide settings: the cache directory."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Return advqa's cache directory (``$ADVQA_HOME``, default ``~/.cache/advqa``), creating it."""
    root = Path(os.environ.get("ADVQA_HOME") or Path.home() / ".cache" / "advqa").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
