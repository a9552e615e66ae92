"""`Catalog`: the one registry of a concept (data sets, tasks, block types), in the manner of timm's
`@register_model`: each entry is declared once, where the thing acts, and every other place reads the catalogue.

Pure Python (imports no torch): the config validator reads the catalogues before anything heavy is loaded. An entry
can name its implementation as a "package.module:function" path, imported only when it is used (`resolve`); an
entry of your own registers itself when its module is imported (`module` in its config file, see docs/extending.md).
"""
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Catalog(Generic[T]):
    """Named entries of one kind; `get` refuses an unknown name (LookupError) in one line naming the choices. The
    config layer turns that into a ConfigError before anything is built (reslab.config.rules.entry)."""

    def __init__(self, what: str, key: str):
        self.what, self.key = what, key  # e.g. "data set", "dataset.name"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries and self._entries[name] != entry:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str, module: str | None = None) -> T:
        """The entry `name`, after importing `module` (where an entry of your own registers itself)."""
        if module:
            importlib.import_module(module)
        if name not in self._entries:
            raise LookupError(f"{self.key}={name!r} is unknown: choose one of {', '.join(self._entries)}")
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def items(self):
        return self._entries.items()


def resolve(target: str | Callable) -> Callable:
    """A callable, or the one a "package.module:name" path names (imported now)."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
