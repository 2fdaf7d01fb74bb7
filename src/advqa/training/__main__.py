"""``python -m advqa.training``: retrain the default model's head (see advqa.training.litevsfa)."""
from __future__ import annotations

from advqa.training.litevsfa import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
