"""Unpickling data files without running code (CIFAR's python batches).

A pickle names the functions that rebuild its objects, and plain `pickle.load` imports and calls whatever it
names, `os.system` included. `load` resolves only what dicts of numpy arrays, lists, numbers, bytes and str need
(the "Restricting Globals" pattern of Python's pickle docs; torch's `weights_only` loader does the same for
checkpoints) and refuses anything else before it is called.
"""
import codecs
import pickle
from pathlib import Path

import numpy as np

try:  # numpy >= 2 pickles arrays as numpy._core..., numpy 1.x (and Python 2's CIFAR files) as numpy.core...
    from numpy._core import multiarray, numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray, numeric


class Refused(pickle.UnpicklingError):
    """The file asks for a function or class that data do not need; the message is its dotted name."""


def _reconstruct(subtype, shape, dtype):
    """numpy's array constructor, as its pickles call it: an empty ndarray that `__setstate__` then fills (so an
    array is never larger than the bytes in the file)."""
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"an array rebuilt as {getattr(subtype, '__name__', subtype)} of shape {shape}")
    return multiarray._reconstruct(subtype, shape, dtype)


def _encode(text, encoding="utf-8"):
    """`_codecs.encode(text, "latin1")`: how Python 3 writes bytes in protocol 2 pickles. Only latin-1."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


def _empty_bytes(*args):
    """`bytes()`: how Python 3 writes b"" in protocol 2 pickles; `bytes(n)` would allocate n bytes."""
    if args:
        raise pickle.UnpicklingError("bytes() with arguments")
    return b""


_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): numeric._frombuffer for core in ("core", "_core")},  # protocol 5
    ("_codecs", "encode"): _encode,
    **{(module, "bytes"): _empty_bytes for module in ("builtins", "__builtin__")},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            shown = "os" if module in ("posix", "nt") else module  # os.system pickles as posix.system
            raise Refused(f"{shown}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("a persistent id")


def load(path: Path, encoding: str = "latin1"):
    """The object pickled in `path`. Raises `Refused` when the file asks for anything beyond plain data, and
    pickle's own errors (UnpicklingError, EOFError, ValueError, ...) when it is corrupt or truncated.
    `encoding="latin1"` reads Python 2 pickles such as CIFAR's (their byte strings become str)."""
    with open(path, "rb") as f:
        return _Unpickler(f, encoding=encoding).load()
