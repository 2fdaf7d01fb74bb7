"""advqa: attack, defend and benchmark no-reference video quality models.

Videos are float tensors shaped ``(B, T, 3, H, W)``, RGB, in [0, 1]; see ``advqa.models``
for the :class:`~advqa.models.QualityModel` contract and ``advqa.attacks`` for attacks.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
