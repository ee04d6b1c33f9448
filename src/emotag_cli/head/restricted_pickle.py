"""A pickle reader that builds numpy arrays and nothing else.

FLAME's model files are Python 2 pickles whose arrays are chumpy ``Ch`` objects and whose joint
regressor is a scipy sparse matrix. Loading them with ``pickle.load`` would run whatever callables
the file names; loading them with chumpy needs an unmaintained package. ``load_restricted`` resolves
only an explicit allow-list of globals — numpy's array and dtype reconstruction, a few inert
builtins, and stand-ins for chumpy arrays and scipy's compressed sparse matrices that keep the
pickled state as plain data — and refuses every other global with an EmotagError.
After loading, ``to_numpy`` turns the stand-ins into numpy arrays / scipy matrices.
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np
import scipy.sparse

from ..errors import EmotagError

try:  # numpy >= 2 keeps the reconstruction helpers in numpy._core.
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar


class ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch``: its pickled ``__dict__`` (the values live in ``state['x']``)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise EmotagError("unexpected chumpy object layout in the pickle (state is not a dict)")
        self.state = state

    def to_numpy(self) -> np.ndarray:
        x = getattr(self, "state", {}).get("x")
        if isinstance(x, ChumpyArray):
            return x.to_numpy()
        if not isinstance(x, np.ndarray | float | int):
            raise EmotagError("a chumpy object in the pickle holds no array ('x'); only plain Ch arrays are read")
        return np.asarray(x)


class SparseMatrix:
    """Stand-in for scipy's csc/csr matrix: the pickled ``__dict__`` (data, indices, indptr, shape)."""

    format = "csc"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise EmotagError("unexpected sparse matrix layout in the pickle (state is not a dict)")
        self.state = state

    def to_scipy(self) -> scipy.sparse.spmatrix:
        s = getattr(self, "state", {})
        try:
            parts = (np.asarray(s["data"]), np.asarray(s["indices"]), np.asarray(s["indptr"]))
            shape = tuple(int(n) for n in s.get("_shape", s.get("shape")))
        except (KeyError, TypeError) as exc:
            raise EmotagError(f"sparse matrix in the pickle lacks {exc}") from None
        make = scipy.sparse.csc_matrix if self.format == "csc" else scipy.sparse.csr_matrix
        return make(parts, shape=shape)


class _CsrMatrix(SparseMatrix):
    format = "csr"


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copy_reg._reconstructor`` (protocol 0/1 objects) limited to the stand-ins above."""
    if cls not in (ChumpyArray, SparseMatrix, _CsrMatrix) or base is not object or state is not None:
        raise EmotagError(f"refusing to rebuild {cls!r} from the pickle")
    return cls()


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 pickles use it for bytes (str → bytes, latin-1 only)."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise EmotagError(f"refusing _codecs.encode({encoding!r}) in the pickle")
    return text.encode("latin-1")


_NUMPY = {"_reconstruct": _reconstruct, "scalar": scalar}
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, n): f for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n, f in _NUMPY.items()},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_encode,
    ("chumpy.ch", "Ch"): ChumpyArray,
    **{(m, "csc_matrix"): SparseMatrix for m in ("scipy.sparse.csc", "scipy.sparse._csc")},
    **{(m, "csr_matrix"): _CsrMatrix for m in ("scipy.sparse.csr", "scipy.sparse._csr")},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` answers only from the allow-list (anything else: EmotagError)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise EmotagError(
                f"refusing to load {module}.{name} from a pickle: only numpy arrays, scipy sparse "
                "matrices and chumpy arrays are read from model files"
            ) from None


def load_restricted(fp: IO[bytes]) -> Any:
    """Unpickle ``fp`` through the allow-list; Python 2 byte strings are decoded as latin-1."""
    try:
        return RestrictedUnpickler(fp, encoding="latin1").load()
    except EmotagError:
        raise
    except Exception as exc:  # a truncated or foreign file: report it as the user's problem
        raise EmotagError(f"could not read the pickle: {type(exc).__name__}: {exc}") from None


def to_numpy(value: Any) -> Any:
    """Stand-ins → numpy arrays / scipy sparse matrices, recursively through dicts, lists, tuples."""
    if isinstance(value, ChumpyArray):
        return value.to_numpy()
    if isinstance(value, SparseMatrix):
        return value.to_scipy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_numpy(v) for v in value)
    return value
