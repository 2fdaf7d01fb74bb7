"""The model registry and the QualityModel input checks."""
from __future__ import annotations

import pytest
import torch

from advqa.errors import InputError, UnknownNameError
from advqa.models import available, card, check_video, create


def test_unknown_model_suggests_close_matches():
    with pytest.raises(UnknownNameError) as info:
        create("vfsa")
    assert "Did you mean 'vsfa'" in str(info.value) or "vsfa" in info.value.suggestions
    with pytest.raises(UnknownNameError):
        card("nonexistent-model")


def test_available_is_sorted_and_cards_match():
    names = available()
    assert names == sorted(names)
    for name in names:
        assert card(name).name == name
        lo, hi = card(name).score_range
        assert lo < hi


@pytest.mark.parametrize("video, message", [
    (torch.zeros(1, 2, 3, 8), "shaped"),
    (torch.zeros(1, 2, 4, 8, 8), "3 RGB channels"),
    (torch.zeros(1, 2, 3, 8, 8, dtype=torch.uint8), "float tensor"),
    (torch.full((1, 2, 3, 8, 8), float("nan")), "NaN"),
    (torch.full((1, 2, 3, 8, 8), 255.0), r"\[0, 1\]"),
    (torch.zeros(1, 0, 3, 8, 8), "empty"),
])
def test_check_video_rejects_bad_inputs(video, message):
    with pytest.raises(InputError, match=message):
        check_video(video)


def test_check_video_accepts_valid():
    check_video(torch.rand(2, 3, 3, 8, 8))


def test_tiny_model_forward_validates(tiny_model):
    with pytest.raises(InputError):
        tiny_model(torch.rand(1, 2, 3, 16, 16) * 255)
    assert tiny_model(torch.rand(2, 2, 3, 16, 16)).shape == (2,)
