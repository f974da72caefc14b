"""Lookup table from integer token ids to dense vectors, ``y = weight[ids]``.

Shapes: ``weight`` is ``(V, E)``; ``ids`` is any integer array, for instance
``(T, B)``; ``y`` is ``ids.shape + (E,)``, for instance ``(T, B, E)``.

The backward pass is a scatter-add: every position adds its ``dy`` row into
the row of ``dweight`` its id selected, so an id used k times receives the sum
of k rows. The row of ``padding_idx`` (if any) never receives gradient, as in
``torch.nn.Embedding``. The plain functions ``embedding_forward`` /
``embedding_backward`` are in ``rnnkit.functional``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import as_float_array, check_positive_int, fmt_shape, make_rng, resolve_dtype
from rnnkit.functional import embedding_backward, embedding_forward
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


class Embedding(Module):
    """Token embedding ``y = weight[ids]``, PyTorch's ``nn.Embedding`` in NumPy.

    Parameter ``weight`` (V, E), V = ``num_embeddings`` and E =
    ``embedding_dim``, initialised N(0, 1) from ``seed`` as PyTorch does, with
    the row ``padding_idx`` (negative values count from the end) set to zero.
    That row is never updated by ``backward``.

    ``forward(ids)`` takes an integer array of any shape with values in
    [0, V) and returns ``ids.shape + (E,)``; ``backward(dy)`` adds the
    scattered gradient into ``grads["weight"]`` and returns None (ids have no
    gradient).

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.layers.embedding import Embedding
    >>> emb = Embedding(10, 4, padding_idx=0, seed=0)
    >>> ids = np.array([[1, 2], [3, 0]])          # (T, B)
    >>> emb.forward(ids).shape                     # (T, B, E)
    (2, 2, 4)
    >>> emb.backward(np.ones((2, 2, 4), dtype=np.float32))
    >>> emb.grads["weight"][[0, 1]].tolist()
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        where = "Embedding"
        self.num_embeddings = check_positive_int(where, "num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int(where, "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise TypeError(
                    f"{where}: padding_idx must be an int or None, got {type(padding_idx).__name__} {padding_idx!r}"
                )
            V = self.num_embeddings
            if not -V <= padding_idx < V:
                raise ValueError(f"{where}: padding_idx must be in [-{V}, {V}), got {padding_idx}")
            padding_idx = int(padding_idx) % V
        self.padding_idx = padding_idx
        self.dtype = resolve_dtype(where, dtype)
        rng = make_rng(where, seed)
        weight = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        self.register_parameter("weight", weight)
        self._cache = None
        self._last_forward_no_grad = False

    @property
    def weight(self) -> np.ndarray:
        """The live (V, E) table."""
        return self._own_params["weight"]

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``weight`` selected by ``ids`` (...): returns (..., E)."""
        where = "Embedding.forward"
        if isinstance(ids, (list, tuple, numbers.Integral)) and not isinstance(ids, bool):
            ids = np.asarray(ids)
        if not isinstance(ids, np.ndarray):
            raise TypeError(f"{where}: ids must be a numpy array of integers, got {type(ids).__name__}")
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{where}: ids must hold integers, got dtype {ids.dtype}")
        V = self.num_embeddings
        bad = (ids < 0) | (ids >= V)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{where}: ids must be in [0, {V}), got {ids[idx]} at index {idx}")
        keep = is_grad_enabled()
        # a private copy: callers often refill their id buffer before backward
        y, cache = embedding_forward(ids.copy() if keep else ids, self.weight, self.padding_idx)
        self._cache = cache if keep else None
        self._last_forward_no_grad = not keep
        return y

    def backward(self, dy: np.ndarray) -> None:
        """Scatter-add dy (..., E) into ``grads["weight"]``, skipping the padding row."""
        where = "Embedding.backward"
        if self._cache is None:
            if self._last_forward_no_grad:
                raise RuntimeError(
                    f"{where}: the last forward ran under no_grad() and kept no cache; "
                    "run forward with gradients enabled first"
                )
            raise RuntimeError(f"{where}: no cached forward pass; call forward before backward")
        ids = self._cache[0]
        expected = ids.shape + (self.embedding_dim,)
        shape = np.shape(dy)
        dy = as_float_array(where, "dy", dy, self.dtype)
        if shape != expected:
            raise ValueError(f"{where}: dy must have shape {fmt_shape(expected)}, got {fmt_shape(shape)}")
        embedding_backward(dy, self._cache, out=self._own_grads["weight"])

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}, dtype={self.dtype}"
