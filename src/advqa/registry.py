"""One registry type for every kind of named thing: models, attacks, defences and datasets.

An entry maps a name to a target, either an object or a lazy ``"module:attribute"`` string that
is imported on first use (so ``import advqa`` and listing names do no work). Entries may have
aliases, default options stated once, and a one-line summary for ``advqa <kind>`` listings.
:meth:`Registry.create` rejects unknown options from the target's own signature (a class's
constructor, following ``**kwargs`` up its bases; a function's parameters, following
``**kwargs`` to the callable named by :func:`forwards_options`), with close-match suggestions.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from advqa.errors import ConfigError, UnknownNameError, UnknownOptionError

T = TypeVar("T")
C = TypeVar("C", bound=Callable[..., Any])


@dataclass
class Entry:
    """One registered name: its target, aliases, default options and summary line."""

    name: str
    target: Any
    summary: str = ""
    aliases: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        return isinstance(self.target, str)

    def load(self) -> Any:
        """The target object, importing its module on first use."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self.target = obj
        return self.target


def forwards_options(to: Callable[..., Any]) -> Callable[[C], C]:
    """Mark a factory whose ``**options`` are passed on to ``to`` (for option checking)."""

    def deco(fn: C) -> C:
        fn.options_from = to  # type: ignore[attr-defined]
        return fn

    return deco


def accepted_options(target: Callable[..., Any], skip: Iterable[str] = ()) -> set[str]:
    """Keyword options ``target`` accepts: its signature's named parameters, following ``**kwargs``
    up a class's bases or to a function's :func:`forwards_options` target."""
    skip = set(skip) | {"self", "cls"}
    names: set[str] = set()
    chain: list[Callable[..., Any]]
    if inspect.isclass(target):
        chain = [k.__dict__["__init__"] for k in target.__mro__ if "__init__" in k.__dict__ and k is not object]
    else:
        chain = [target]
    for i, fn in enumerate(chain):
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature
            break
        names |= {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
        forward = getattr(fn, "options_from", None)
        if forward is not None and i == len(chain) - 1:
            names |= accepted_options(forward)
    return names - skip


class Registry(Generic[T]):
    """Names of one kind (``"model"``, ``"attack"``, ...) mapped to lazy targets.

    ``skip`` lists the target's parameters that are not user options (a model factory's
    ``weights`` and ``device``, an attack's ``threat``, a defence's inner ``model``).
    """

    def __init__(self, kind: str, *, skip: Iterable[str] = ()) -> None:
        self.kind = kind
        self.skip = tuple(skip)
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._loaders: list[str] = []

    # -- registration -------------------------------------------------------------------------
    def add(self, name: str, target: Any, *, summary: str = "", aliases: Iterable[str] = (),
            defaults: Mapping[str, Any] | None = None, replace: bool = False) -> Entry:
        """Register ``target`` (an object or ``"module:attr"``) under ``name``."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
        old = self._entries.get(name)
        if old is not None and not replace and not self._same(old, target):
            raise ValueError(f"{self.kind} name {name!r} is registered twice")
        entry = Entry(name, target, summary or (old.summary if old else ""), tuple(aliases) or
                      (old.aliases if old else ()), dict(defaults or (old.defaults if old else {})))
        self._entries[name] = entry
        for alias in entry.aliases:
            if alias in self._entries:
                raise ValueError(f"{self.kind} alias {alias!r} is also a name")
            self._aliases[alias] = name
        return entry

    def register(self, name: str, **kwargs: Any) -> Callable[[C], C]:
        """Decorator form of :meth:`add`."""

        def deco(obj: C) -> C:
            self.add(name, obj, **kwargs)
            return obj

        return deco

    def remove(self, name: str) -> None:
        """Forget a name (and its aliases)."""
        entry = self._entries.pop(name, None)
        if entry is not None:
            for alias in entry.aliases:
                self._aliases.pop(alias, None)

    @staticmethod
    def _same(entry: Entry, target: Any) -> bool:
        """Whether ``target`` is what ``entry`` already points at (a lazy entry being filled in)."""
        if entry.target is target:
            return True
        if isinstance(entry.target, str) and not isinstance(target, str):
            return entry.target == f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', '')}"
        return False

    # -- look-up ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted (aliases not included)."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` or an alias; :class:`UnknownNameError` with suggestions."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise UnknownNameError(self.kind, str(name), list(self._entries) + list(self._aliases))

    def entry(self, name: str) -> Entry:
        return self._entries[self.resolve(name)]

    def get(self, name: str) -> Any:
        """The target behind ``name`` (imported on first use)."""
        return self.entry(name).load()

    def summary(self, name: str) -> str:
        return self.entry(name).summary

    def options(self, name: str) -> set[str]:
        """The option names ``name`` accepts."""
        return accepted_options(self.get(name), self.skip)

    def check_options(self, name: str, options: Mapping[str, Any]) -> None:
        """Raise :class:`UnknownNameError` (with suggestions) for an option ``name`` does not take."""
        accepted = self.options(name)
        unknown = sorted(set(options) - accepted - set(self.skip))
        if unknown:
            raise UnknownOptionError(f"{self.resolve(name)} option", unknown[0], accepted)

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the target with ``args``, the entry's defaults and ``options`` (checked first)."""
        entry = self.entry(name)
        merged = {**entry.defaults, **options}
        self.check_options(entry.name, merged)
        try:
            return entry.load()(*args, **merged)
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            raise ConfigError(f"bad options for {self.kind} {entry.name!r}: {exc}") from None

    def listing(self) -> list[tuple[str, str]]:
        """``(name, summary)`` for every entry, sorted by name."""
        return [(n, self._entries[n].summary) for n in self.names()]


__all__ = ["Entry", "Registry", "accepted_options", "forwards_options"]
