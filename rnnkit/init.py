"""Weight initialisers that fill an array in place from an ``np.random.Generator``.

Every function writes into the array it is given (so ``model.params[name]``
stays the same object) and returns it for convenience. Randomness comes only
from the ``rng`` argument, never from NumPy's global state; pass one
generator through all calls (``rng = np.random.default_rng(seed)``) so each
array gets fresh numbers. Random values are drawn in float64 and rounded to
the array's dtype, so a float32 and a float64 model built from the same seed
agree to float32 rounding.

Stacked gates: recurrent weights hold G gate blocks on top of each other,
``(G*H, D)`` (PyTorch's layout; LSTM i,f,g,o, GRU r,z,n). With ``gates=G``,
:func:`xavier_uniform_`, :func:`xavier_normal_`, :func:`orthogonal_` and
:func:`identity_` treat each ``(H, D)`` block as its own matrix: its fans are
``H`` and ``D`` (not ``G*H``), and each block is orthogonal on its own.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> w_hh = np.empty((4 * 3, 3))                       # an LSTM's (4H, H), H = 3
>>> _ = orthogonal_(w_hh, rng, gates=4)
>>> bool(np.allclose(w_hh[3:6].T @ w_hh[3:6], np.eye(3)))
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from rnnkit._validate import check_positive_int

__all__ = [
    "uniform_",
    "pytorch_default_",
    "xavier_uniform_",
    "xavier_normal_",
    "orthogonal_",
    "identity_",
    "lstm_forget_bias_",
]


# -- checks ------------------------------------------------------------------------------------
def _check_array(where: str, name: str, a, *, min_ndim: int = 0) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array, got {type(a).__name__}")
    if a.dtype.kind != "f":
        raise TypeError(f"{where}: {name} must be a float array, got dtype {a.dtype}")
    if not a.flags.writeable:
        raise ValueError(f"{where}: {name} must be writeable to be filled in place, got a read-only array")
    if a.ndim < min_ndim:
        raise ValueError(f"{where}: {name} must have at least {min_ndim} dimensions, got shape {a.shape}")
    return a


def _check_rng(where: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _real(where: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    return float(value)


def _positive(where: str, name: str, value) -> float:
    value = _real(where, name, value)
    if value <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value}")
    return value


def _blocks(where: str, a: np.ndarray, gates) -> list[np.ndarray]:
    """Views of the ``gates`` row blocks of ``a`` (a single view when gates == 1)."""
    g = check_positive_int(where, "gates", gates)
    if a.shape[0] % g:
        raise ValueError(f"{where}: a.shape[0] must be divisible by gates={g}, got shape {a.shape}")
    h = a.shape[0] // g
    return [a[k * h : (k + 1) * h] for k in range(g)]


def _fans(block: np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) as PyTorch computes them: (out, in, *kernel) -> (in * k, out * k)."""
    receptive = math.prod(block.shape[2:])
    return block.shape[1] * receptive, block.shape[0] * receptive


# -- initialisers ------------------------------------------------------------------------------
def uniform_(a: np.ndarray, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Fill ``a`` with draws from U(low, high).

    Example
    -------
    >>> import numpy as np
    >>> a = uniform_(np.empty(5), -0.1, 0.1, np.random.default_rng(0))
    >>> bool(np.all(np.abs(a) <= 0.1))
    True
    """
    where = "uniform_"
    _check_array(where, "a", a)
    low, high = _real(where, "low", low), _real(where, "high", high)
    if not low <= high:
        raise ValueError(f"{where}: high must be >= low={low}, got {high}")
    a[...] = _check_rng(where, rng).uniform(low, high, size=a.shape)
    return a


def pytorch_default_(params: Mapping[str, np.ndarray], hidden_size: int, rng: np.random.Generator) -> None:
    """PyTorch's RNN/GRU/LSTM default: every parameter (weights and biases) from U(-k, k), k = 1/sqrt(H).

    Arrays are filled in the mapping's order, so the result depends only on the seed and the names' order.

    Example
    -------
    >>> import numpy as np
    >>> params = {"weight_hh_l0": np.empty((8, 2)), "bias_hh_l0": np.empty(8)}
    >>> pytorch_default_(params, hidden_size=2, rng=np.random.default_rng(0))
    >>> bool(np.all(np.abs(params["weight_hh_l0"]) <= 1 / np.sqrt(2)))
    True
    """
    where = "pytorch_default_"
    if not isinstance(params, Mapping):
        raise TypeError(f"{where}: params must be a mapping of name -> array, got {type(params).__name__}")
    h = check_positive_int(where, "hidden_size", hidden_size)
    _check_rng(where, rng)
    for k, a in params.items():
        _check_array(where, f"params[{k!r}]", a)
    bound = 1.0 / math.sqrt(h)
    for a in params.values():
        a[...] = rng.uniform(-bound, bound, size=a.shape)


def xavier_uniform_(a: np.ndarray, rng: np.random.Generator, gain: float = 1.0, gates: int = 1) -> np.ndarray:
    """Glorot & Bengio (2010) uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).

    For a 2-D ``(out, in)`` weight ``fan_in = in`` and ``fan_out = out``
    (PyTorch's convention); with ``gates=G`` each ``(out/G, in)`` block uses
    ``fan_out = out/G`` (see the module docstring).

    Example
    -------
    >>> import numpy as np
    >>> w = xavier_uniform_(np.empty((30, 20)), np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= np.sqrt(6 / 50))
    True
    """
    where = "xavier_uniform_"
    _check_array(where, "a", a, min_ndim=2)
    _check_rng(where, rng)
    gain = _positive(where, "gain", gain)
    for block in _blocks(where, a, gates):
        fan_in, fan_out = _fans(block)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        block[...] = rng.uniform(-bound, bound, size=block.shape)
    return a


def xavier_normal_(a: np.ndarray, rng: np.random.Generator, gain: float = 1.0, gates: int = 1) -> np.ndarray:
    """Glorot & Bengio (2010) normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Fans as in :func:`xavier_uniform_`, per gate block with ``gates=G``.

    Example
    -------
    >>> import numpy as np
    >>> w = xavier_normal_(np.empty((300, 200)), np.random.default_rng(0))
    >>> bool(abs(w.std() - np.sqrt(2 / 500)) < 0.002)
    True
    """
    where = "xavier_normal_"
    _check_array(where, "a", a, min_ndim=2)
    _check_rng(where, rng)
    gain = _positive(where, "gain", gain)
    for block in _blocks(where, a, gates):
        fan_in, fan_out = _fans(block)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        block[...] = rng.normal(0.0, std, size=block.shape)
    return a


def orthogonal_(a: np.ndarray, rng: np.random.Generator, gain: float = 1.0, gates: int = 1) -> np.ndarray:
    """A random orthogonal matrix times ``gain`` (Saxe et al. 2014), Haar-distributed.

    For each block ``(R, C)`` (the whole array, or each gate block with
    ``gates=G``; extra dimensions are flattened into C)::

        X ~ N(0, 1)^(max(R,C), min(R,C));  X = Q R_  (reduced QR)
        Q = Q * sign(diag(R_))     (makes Q Haar-distributed, Mezzadri 2007)
        block = gain * Q            (or Q^T when R < C)

    so ``block.T @ block = gain^2 I`` when R >= C, and ``block @ block.T = gain^2 I`` when R < C.

    Example
    -------
    >>> import numpy as np
    >>> w = orthogonal_(np.empty((4, 4)), np.random.default_rng(0))
    >>> bool(np.allclose(w.T @ w, np.eye(4)))
    True
    """
    where = "orthogonal_"
    _check_array(where, "a", a, min_ndim=2)
    _check_rng(where, rng)
    gain = _positive(where, "gain", gain)
    for block in _blocks(where, a, gates):
        rows, cols = block.shape[0], math.prod(block.shape[1:])
        x = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(x)
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)  # column signs: sign(0) taken as +1
        if rows < cols:
            q = q.T
        block[...] = (gain * q).reshape(block.shape)
    return a


def identity_(a: np.ndarray, scale: float = 1.0, gates: int = 1) -> np.ndarray:
    """The identity times ``scale``: IRNN's recurrent weight (Le, Jaitly & Hinton 2015).

    ``block = scale * I`` (ones on the main diagonal of a non-square block);
    with ``gates=G`` each ``(H, D)`` block gets its own identity.

    Example
    -------
    >>> import numpy as np
    >>> identity_(np.empty((2, 2)), scale=0.5).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    where = "identity_"
    _check_array(where, "a", a)
    if a.ndim != 2:
        raise ValueError(f"{where}: a must be 2-D, got shape {a.shape}")
    scale = _real(where, "scale", scale)
    for block in _blocks(where, a, gates):
        block[...] = scale * np.eye(*block.shape)
    return a


def lstm_forget_bias_(bias: np.ndarray, hidden_size: int, value: float = 1.0) -> np.ndarray:
    """Set the forget-gate slice ``bias[H:2H]`` to ``value``; the rest is left untouched.

    PyTorch stacks LSTM gates as i, f, g, o, so rows ``H:2H`` are the forget
    gate. A positive forget bias lets memory flow early in training
    (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1). PyTorch's LSTM has
    two biases, ``bias_ih`` and ``bias_hh``, that add: set one of them for an
    effective forget bias of ``value``.

    Example
    -------
    >>> import numpy as np
    >>> lstm_forget_bias_(np.zeros(8), hidden_size=2).tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    where = "lstm_forget_bias_"
    _check_array(where, "bias", bias)
    h = check_positive_int(where, "hidden_size", hidden_size)
    if bias.shape != (4 * h,):
        raise ValueError(f"{where}: bias must have shape (4*hidden_size,) = ({4 * h},), got {bias.shape}")
    bias[h : 2 * h] = _real(where, "value", value)
    return bias
