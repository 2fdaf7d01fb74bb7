"""Exceptions raised by advqa.

Every error a user can cause derives from :class:`AdvqaError`; the CLI turns these into a
one-line message and a non-zero exit code. Messages name the problem and what to do.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdvqaError(Exception):
    """Base class of every user-facing advqa error."""


class InputError(AdvqaError, ValueError):
    """A tensor, option or value has the wrong shape, range, type or contents."""


class VideoReadError(AdvqaError):
    """A video file is missing, unreadable, corrupt or empty."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")


class VideoWriteError(AdvqaError):
    """A video could not be written."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write video {self.path}: {reason}")


class ImageReadError(AdvqaError):
    """An image file is missing, unreadable, corrupt or in an unsupported format."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class ImageWriteError(AdvqaError):
    """An image could not be written."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write image {self.path}: {reason}")


class WeightsError(AdvqaError):
    """Model weights are missing, corrupt, fail their checksum or do not fit the model."""


class DatasetError(AdvqaError):
    """A dataset folder or label file is missing, incomplete or malformed."""


class ConfigError(AdvqaError):
    """An experiment configuration is invalid."""


class UnknownNameError(AdvqaError, KeyError):
    """A model, attack, dataset or option name is not known."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.kind, self.name, self.known, self.suggestions = kind, name, known, close
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}.")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownOptionError(UnknownNameError, InputError):
    """An option that a model, attack, defence or dataset does not take (a bad input, with
    close-match suggestions)."""
