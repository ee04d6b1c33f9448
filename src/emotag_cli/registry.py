"""Named choices a command-line option picks from (head models, audio encoders): one mechanism."""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import EmotagError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order (the default first); ``what`` names them in errors."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` (a second registration of a name is an error)."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __getitem__(self, name: str) -> T:
        """The entry called ``name``; a one-line error naming the choices for any other name."""
        try:
            return self._entries[name]
        except KeyError:
            raise EmotagError(f"unknown {self.what} {name!r}; choose one of: {', '.join(self._entries)}") from None
