"""Value rules: what a config value must be, and the one-line error when it is not. Pure Python (no torch).

A `Rule` is a test and the words for what it accepts; `check(key, value, rule)` raises
`ConfigError("<key>=<value> is invalid: expected <words>")`. Numbers must be finite (NaN and infinity are refused
wherever a number is expected), integers are not booleans, and `optional` rules also accept null.
"""
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reslab.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    test: Callable[[Any], bool]
    expected: str
    optional: bool = False

    def __or__(self, other: "Rule") -> "Rule":
        """Either rule: `integer(1) | choice("auto")`."""
        return Rule(lambda v: self.accepts(v) or other.accepts(v), f"{self.expected} or {other.expected}",
                    self.optional or other.optional)

    def accepts(self, value) -> bool:
        return (value is None and self.optional) or (value is not None and self.test(value))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bounds(low, high, low_open: bool, high_open: bool) -> tuple[Callable[[float], bool], str]:
    def inside(v) -> bool:
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    if low is not None and high is not None:
        words = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        words = f"{'>' if low_open else '>='} {low}"
    elif high is not None:
        words = f"{'<' if high_open else '<='} {high}"
    else:
        words = ""
    return inside, words


def integer(low: int | None = None, high: int | None = None, optional: bool = False) -> Rule:
    inside, words = _bounds(low, high, False, False)
    return Rule(lambda v: _is_int(v) and inside(v), f"an integer {words}".rstrip(), optional)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, optional: bool = False) -> Rule:
    """A finite int or float within the bounds."""
    inside, words = _bounds(low, high, low_open, high_open)
    return Rule(lambda v: _is_number(v) and inside(v), f"a finite number {words}".rstrip(), optional)


def positive(optional: bool = False) -> Rule:
    return number(0, low_open=True, optional=optional)


def fraction(optional: bool = False) -> Rule:
    """A number in (0, 1)."""
    return number(0, 1, low_open=True, high_open=True, optional=optional)


def choice(*values, optional: bool = False) -> Rule:
    def test(v) -> bool:  # exact type: 1 is not true, "1" is not 1
        return any(type(v) is type(x) and v == x for x in values)

    return Rule(test, f"one of {', '.join(map(str, values))}", optional)


def boolean(optional: bool = False) -> Rule:
    return Rule(lambda v: isinstance(v, bool), "one of true, false", optional)


def text(optional: bool = False) -> Rule:
    return Rule(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string", optional)


def sequence(item: Rule, length: int | None = None, optional: bool = False) -> Rule:
    """A list whose items all follow `item` (and, given `length`, has that many)."""
    def test(v) -> bool:
        ok = isinstance(v, Sequence) and not isinstance(v, str) and all(item.accepts(x) for x in v)
        return ok and (length is None or len(v) == length)

    words = f"a list of {length if length else ''} {item.expected.removeprefix('a ').removeprefix('an ')}"
    return Rule(test, " ".join(words.split()), optional)


def component(optional: bool = True) -> Rule:
    """A `_target_` mapping (a callback, logger, plugin ...) or null."""
    return Rule(lambda v: hasattr(v, "get") and isinstance(v.get("_target_"), str),
                "a mapping with a `_target_` class path", optional)


def checked_by(library: str) -> Rule:
    """A key whose value `library` checks itself, in one line naming the value and what it accepts: reslab does not
    re-state that rule (the key is still listed in the schema, so every key in conf/ has its rule)."""
    return Rule(lambda v: True, f"what {library} accepts", optional=True)


def check(key: str, value, rule: Rule) -> None:
    if not rule.accepts(value):
        raise ConfigError(f"{key}={_show(value)} is invalid: expected {rule.expected}")


def _show(value) -> str:
    if hasattr(value, "items") or (isinstance(value, Sequence) and not isinstance(value, str)):
        return str(value)
    return repr(value)


def entry(catalog, name: str, module: str | None = None):
    """The entry of `catalog` (a reslab.catalog.Catalog) that a config value names, after importing `module` (where
    an entry of your own registers itself); ConfigError (one line) if the module does not import or the name is
    unknown."""
    try:
        return catalog.get(name, module)
    except ImportError as err:
        raise ConfigError(f"{catalog.key.rpartition('.')[0] or catalog.key}.module={module!r} does not import "
                          f"({err}): give a module on the Python path") from None
    except LookupError as err:
        raise ConfigError(str(err)) from None
