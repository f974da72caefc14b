"""The window-based neural language model of Bengio et al. (2003), forward and backward by hand.

The next word is predicted from the n-1 words before it (the "window-based neural LM" of the
CS224N lecture notes, Stanford):

    x     = [C[w_{t-n+1}]; ...; C[w_{t-1}]]          (B, (n-1)E)   the context's embeddings, oldest first
    a     = W1 x + b1                                (B, H)
    h     = tanh(a)                                  (B, H)
    z     = W2 h + W3 x + b3                         (B, V)        W3 x: the optional direct connections
    y_hat = softmax(z)                               (B, V)
    loss  = -sum_b log y_hat[b, w_t]                 summed here; the gradient is of the mean over tokens

The parameters carry PyTorch's names and layout (``x @ W.T``), so a
``state_dict`` moves to a PyTorch twin as a plain dict copy:

    C  = embedding.weight   (V, E)          W2 = output.weight   (V, H)
    W1 = hidden.weight      (H, (n-1)E)     b3 = output.bias     (V,)
    b1 = hidden.bias        (H,)            W3 = direct.weight   (V, (n-1)E)   (only with ``direct``)

There is no separate output bias of the hidden path: b3 serves both, as in the
notes and the paper. Initialisation: every weight and bias uniform in
+/- 1/sqrt(fan_in) as in PyTorch, and C ~ N(0, ``embedding_std``^2) with a
default of 0.1, not PyTorch's 1: on the Penn Treebank (n = 5, E = 100,
H = 200, direct connections, Adam) N(0, 1) embeddings left the validation
perplexity at 478 after 150 s of training, N(0, 0.01) at 324. With
``dropout`` p > 0, training multiplies x and h by inverted-dropout masks
(zero with probability p, else 1 / (1 - p)), drawn from the model's own
generator ``rng``.

Backward (dz = d loss / dz, from :func:`rnnkit.losses.cross_entropy`: softmax(z) - onehot(w_t), per token):

    dW2 = dz^T h,   db3 = sum_b dz,   dh = dz W2           from z = W2 h + W3 x + b3
    dW3 = dz^T x,   dx  = dz W3                            (direct connections)
    da  = dh * (1 - h^2)                                   from h = tanh(a)
    dW1 = da^T x,   db1 = sum_b da,   dx += da W1          from a = W1 x + b1
    dC[v] = sum of the rows of dx (reshaped (B, n-1, E)) whose word is v     from x = C[context]

Training and evaluation run the softmax cross-entropy as the fused output path of
:mod:`rnnkit.layers.output` (the gradient written over the logits, scaled by 1 / B in the same
pass, and the logits' buffer kept between steps); ``model.output_path = "reference"`` runs the
unfused :func:`rnnkit.losses.cross_entropy` instead, with the same numbers to the last bit.
With direct connections, W3 x is one more (B, V) temporary before it is added to z.

Data: :func:`ngram_windows` turns a token stream into (contexts (N, n-1),
targets (N,)), every token a target, the first ones with contexts padded by
``bos_id`` (``<eos>`` for a Penn Treebank stream, so the start of the text
looks like the start of any line). The model takes part in
:class:`rnnkit.trainer.Trainer` with :class:`rnnkit.batches.ArrayBatches`
over those two arrays, and decodes with :mod:`rnnkit.decoding` (its state is
the last n-1 ids of each hypothesis, (K, n-1)) through :meth:`NNLM.as_step_model`.

Reference: Y. Bengio, R. Ducharme, P. Vincent, C. Jauvin, "A Neural Probabilistic
Language Model", JMLR 3 (2003), eq. (1): y = b + W x + U tanh(d + H x).

Example
-------
>>> import numpy as np
>>> from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
>>> contexts, targets = ngram_windows(np.array([5, 6, 7, 5, 6]), n=3, bos_id=0)
>>> contexts.tolist(), targets.tolist()
([[0, 0], [0, 5], [5, 6], [6, 7], [7, 5]], [5, 6, 7, 5, 6])
>>> lm = NNLM(NNLMConfig(vocab_size=8, context=2, embedding_size=4, hidden_size=6, seed=0))
>>> lm.forward(contexts).shape                                  # (B, V)
(5, 8)
>>> round(float(np.exp(lm.next_logprobs([5, 6])).sum()), 6)
1.0
>>> from rnnkit.decoding import sample
>>> sample(lm.as_step_model(), [0], max_len=4, seed=0).shape
(4,)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_choice, check_positive_int, check_probability, fmt_shape, resolve_dtype
from rnnkit.activations import log_softmax
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.layers.embedding import Embedding, embedding_backward
from rnnkit.layers.linear import Linear, linear_backward, linear_forward
from rnnkit.layers.output import softmax_cross_entropy_rows_
from rnnkit.losses import cross_entropy
from rnnkit.module import Module
from rnnkit.protocols import StepModel, StepResult

__all__ = ["NNLMConfig", "NNLM", "ngram_windows", "nnlm_forward", "nnlm_backward"]


@dataclass(frozen=True)
class NNLMConfig:
    """Everything that defines a window-based neural LM; saved with each checkpoint."""

    vocab_size: int  # V
    context: int = 4  # n - 1 previous words (Bengio et al. and Mikolov et al.: n = 5)
    embedding_size: int = 100  # E, the word feature vectors
    hidden_size: int = 200  # H
    direct: bool = True  # the W3 x direct connections from the embeddings to the output
    dropout: float = 0.0  # on x and on h, in training only
    embedding_std: float = 0.1  # C ~ N(0, embedding_std^2); PyTorch's 1 trains far slower here (docstring)
    bos_id: int = 0  # fills a context before the first word (a stream's start, a short prompt)
    seed: int = 0
    dtype: str = "float32"
    kind: str = "nnlm"

    def __post_init__(self):
        w = "NNLMConfig"
        for name in ("vocab_size", "context", "embedding_size", "hidden_size"):
            check_positive_int(w, name, getattr(self, name))
        if not isinstance(self.direct, bool):
            raise TypeError(f"{w}: direct must be a bool, got {type(self.direct).__name__} {self.direct!r}")
        check_probability(w, "dropout", self.dropout)
        std = self.embedding_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not (math.isfinite(std) and std > 0):
            raise ValueError(f"{w}: embedding_std must be a finite number > 0, got {std!r}")
        check_positive_int(w, "bos_id", self.bos_id, minimum=0)
        if self.bos_id >= self.vocab_size:
            raise ValueError(f"{w}: bos_id must be in [0, {self.vocab_size}), got {self.bos_id}")
        check_positive_int(w, "seed", self.seed, minimum=0)
        resolve_dtype(w, self.dtype)
        if self.kind != "nnlm":
            raise ValueError(f"{w}: kind must be 'nnlm', got {self.kind!r}")


def ngram_windows(ids: ArrayLike, n: int, bos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Every position of the stream ``ids`` (L,) as a training example: contexts (L, n-1), targets (L,).

    contexts[i] = ids[i-n+1 .. i-1] (oldest first), with ``bos_id`` where the
    index is before the stream's start; targets[i] = ids[i]. So every token is
    predicted once, the perplexity convention of a stream of words and
    end-of-line tokens.
    """
    where = "ngram_windows"
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size):
        raise TypeError(
            f"{where}: ids must be a 1-D sequence of int token ids, got shape {arr.shape} dtype {arr.dtype}"
        )
    n = check_positive_int(where, "n", n)
    bos_id = check_positive_int(where, "bos_id", bos_id, minimum=0)
    if arr.size == 0:
        raise ValueError(f"{where}: ids must hold at least one token, got none")
    if arr.min() < 0:
        raise ValueError(f"{where}: ids must be >= 0, got {int(arr.min())}")
    padded = np.concatenate([np.full(n - 1, bos_id, dtype=np.int64), arr.astype(np.int64)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)  # (L, n), a view
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, -1])


# -- the maths: plain functions with explicit caches ------------------------------------------------
def nnlm_forward(
    params: dict, contexts: np.ndarray, masks: Any = None, out: np.ndarray | None = None
) -> tuple[np.ndarray, tuple]:
    """Logits z (B, V) for contexts (B, n-1); returns ``(z, cache)``. No input checks.

    ``params`` holds the arrays named in the module docstring (``direct.weight``
    optional); ``masks`` is None or (mask_x (B, (n-1)E), mask_h (B, H)), already
    scaled by 1 / (1 - p). ``out``, a C-contiguous (B, V) array of the parameters'
    dtype, receives z instead of a new array.
    """
    C, W1, b1 = params["embedding.weight"], params["hidden.weight"], params["hidden.bias"]
    W2, b3, W3 = params["output.weight"], params["output.bias"], params.get("direct.weight")
    B = contexts.shape[0]
    x = C[contexts].reshape(B, -1)  # (B, (n-1)E)  x = [C[w_1]; ...; C[w_{n-1}]]
    if masks is not None:
        x = x * masks[0]  # dropout on x
    a, cache_a = linear_forward(x, W1, b1)  # (B, H)       a = W1 x + b1
    h = np.tanh(a)  # (B, H)       h = tanh(a)
    hd = h if masks is None else h * masks[1]  # dropout on h
    if out is not None and out.shape == (B, W2.shape[0]) and out.dtype == hd.dtype and out.flags.c_contiguous:
        z = np.matmul(hd, W2.T, out=out)  # (B, V)      z = W2 h + b3, in the caller's buffer
        z += b3
        cache_z = (hd, W2, True)
    else:
        z, cache_z = linear_forward(hd, W2, b3)  # (B, V)       z = W2 h + b3
    cache_d = None
    if W3 is not None:
        zd, cache_d = linear_forward(x, W3)  # (B, V)           + W3 x
        z += zd
    return z, (contexts, C.shape, masks, h, cache_a, cache_z, cache_d)


def nnlm_backward(cache: tuple, dz: np.ndarray) -> dict:
    """Gradients of :func:`nnlm_forward` for dz (B, V): a dict of the parameter names to arrays."""
    contexts, c_shape, masks, h, cache_a, cache_z, cache_d = cache
    grads = {}
    # z = W2 h + b3
    dh, grads["output.weight"], grads["output.bias"] = linear_backward(dz, cache_z)  # dh (B, H)
    # + W3 x (direct connections)
    if cache_d is not None:
        dx, grads["direct.weight"], _ = linear_backward(dz, cache_d)  # dx (B, (n-1)E)
    if masks is not None:
        dh = dh * masks[1]  # dropout on h
    # h = tanh(a)
    da = dh * (1.0 - h * h)  # (B, H)
    # a = W1 x + b1
    dx_a, grads["hidden.weight"], grads["hidden.bias"] = linear_backward(da, cache_a)
    dx = dx_a if cache_d is None else dx + dx_a
    if masks is not None:
        dx = dx * masks[0]  # dropout on x
    # x = [C[w_1]; ...; C[w_{n-1}]]: scatter-add each E-slice into its word's row
    B, n1 = contexts.shape
    grads["embedding.weight"] = embedding_backward(dx.reshape(B, n1, c_shape[1]), (contexts, c_shape, None))
    return grads


def _sum64(per: np.ndarray) -> float:
    """sum of per-token losses as :func:`rnnkit.losses.cross_entropy` forms it (float64 dot, same bits)."""
    return float(np.dot(np.ones(per.shape[0], dtype=per.dtype).astype(np.float64), per.astype(np.float64)))


# -- the model --------------------------------------------------------------------------------------
class NNLM(Module):
    """Bengio et al.'s window-based neural LM; see the module docstring.

    ``forward(contexts (B, n-1)) -> logits (B, V)`` keeps an explicit cache
    for ``backward(dlogits)``, which adds into ``grads``. Trains with
    :class:`rnnkit.trainer.Trainer` on ``ArrayBatches(contexts, targets)``
    (the gradient is of the mean loss per token) and decodes with
    :mod:`rnnkit.decoding` through :meth:`as_step_model`.
    """

    def __init__(self, config: NNLMConfig) -> None:
        super().__init__()
        if not isinstance(config, NNLMConfig):
            raise TypeError(f"NNLM: config must be an NNLMConfig, got {type(config).__name__}")
        self.cfg = c = config
        dtype = resolve_dtype("NNLM", c.dtype)
        seeds = np.random.SeedSequence(c.seed).generate_state(5)
        width = c.context * c.embedding_size  # (n-1)E
        self.embedding = Embedding(c.vocab_size, c.embedding_size, dtype=dtype, seed=int(seeds[0]))
        self.embedding.weight[...] *= dtype.type(c.embedding_std)  # N(0, 1) -> N(0, std^2)
        self.hidden = Linear(width, c.hidden_size, dtype=dtype, seed=int(seeds[1]))
        self.output = Linear(c.hidden_size, c.vocab_size, dtype=dtype, seed=int(seeds[2]))
        if c.direct:
            self.direct = Linear(width, c.vocab_size, bias=False, dtype=dtype, seed=int(seeds[3]))
        self.rng = np.random.default_rng(int(seeds[4]))  # dropout masks
        self.dtype = dtype
        self._cache = None
        self.output_path = "fused"
        self._logits_buffer = None  # (B, V), kept between training steps by the fused path

    @property
    def output_path(self) -> str:
        """Which implementation of the softmax cross-entropy trains and evaluates: "fused" or "reference".

        Both give the same numbers to the last bit (rnnkit.layers.output)."""
        return self._output_path

    @output_path.setter
    def output_path(self, value: str) -> None:
        object.__setattr__(self, "_output_path", check_choice("NNLM", "output_path", value, ("fused", "reference")))

    @classmethod
    def from_config(cls, config: dict) -> NNLM:
        if not isinstance(config, dict) or config.get("kind") != "nnlm":
            kind = config.get("kind") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"NNLM.from_config: config must be an nnlm config, got kind {kind!r}")
        return cls(NNLMConfig(**config))

    def config(self) -> dict:
        return asdict(self.cfg)

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"V={c.vocab_size}, n={c.context + 1}, E={c.embedding_size}, H={c.hidden_size}, "
            f"direct={c.direct}, dropout={c.dropout}, dtype={self.dtype}"
        )

    # -- forward and backward -------------------------------------------------------------------------
    def _check_contexts(self, where: str, contexts) -> np.ndarray:
        ctx = np.asarray(contexts)
        n1, V = self.cfg.context, self.cfg.vocab_size
        if ctx.ndim != 2 or ctx.shape[1] != n1:
            raise ValueError(f"{where}: contexts must have shape (B, {n1}), got {fmt_shape(ctx.shape)}")
        if ctx.dtype.kind not in "iu":
            raise TypeError(f"{where}: contexts must hold integer token ids, got dtype {ctx.dtype}")
        if ctx.size and (ctx.min() < 0 or ctx.max() >= V):
            bad = tuple(int(i) for i in np.argwhere((ctx < 0) | (ctx >= V))[0])
            raise ValueError(f"{where}: contexts must be in [0, {V}), got {ctx[bad]} at index {bad}")
        return ctx.astype(np.int64, copy=False)

    def _masks(self, B: int):
        p = self.cfg.dropout
        if not self.training or p == 0.0:
            return None
        keep = 1.0 - p
        scale = self.dtype.type(1.0 / keep)
        width = self.cfg.context * self.cfg.embedding_size
        return tuple((self.rng.random((B, k)) < keep).astype(self.dtype) * scale for k in (width, self.cfg.hidden_size))

    def forward(self, contexts: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
        """Logits z (B, V) for contexts (B, n-1) of token ids; dropout masks in training mode.

        ``out`` (B, V), C-contiguous, of the model's dtype: written with z and returned (no new array)."""
        ctx = self._check_contexts("NNLM.forward", contexts).copy()  # cached: the caller may refill its buffer
        z, cache = nnlm_forward(self.params, ctx, self._masks(ctx.shape[0]), out=out)
        self._cache = cache if is_grad_enabled() else None
        return z

    def backward(self, dlogits: np.ndarray) -> None:
        """Add the gradients for d(loss)/d(logits) (B, V) of the last forward into ``grads``."""
        where = "NNLM.backward"
        if self._cache is None:
            raise RuntimeError(f"{where}: no cached forward pass (call forward with gradients enabled first)")
        B = self._cache[0].shape[0]
        if np.shape(dlogits) != (B, self.cfg.vocab_size):
            raise ValueError(
                f"{where}: dlogits must have shape ({B}, {self.cfg.vocab_size}), got {fmt_shape(np.shape(dlogits))}"
            )
        own = self.grads
        for name, g in nnlm_backward(self._cache, np.asarray(dlogits, dtype=self.dtype)).items():
            own[name] += g

    # -- the Trainer's protocol -----------------------------------------------------------------------
    def initial_state(self, batch: Any) -> None:
        return None

    def train_step(self, batch: tuple, state: Any) -> StepResult:
        """Forward and backward on (contexts (B, n-1), targets (B,)); the gradient is of the mean over
        the B tokens, the returned loss their sum."""
        contexts, targets = batch
        count = int(np.shape(targets)[0])
        if self.output_path == "reference":
            z = self.forward(contexts)
            loss, dz = cross_entropy(z, np.asarray(targets), reduction="sum", ignore_index=None)
            dz *= dz.dtype.type(1.0 / max(count, 1))  # objective: the mean over tokens
            self.backward(dz)
            return StepResult(loss, count, None)
        B, V = np.shape(contexts)[0], self.cfg.vocab_size
        t = self._check_targets("NNLM.train_step", targets, B)
        buf = self._logits_buffer
        if buf is None or buf.shape != (B, V):
            buf = self._logits_buffer = np.empty((B, V), dtype=self.dtype)
        z = self.forward(contexts, out=buf)
        per = softmax_cross_entropy_rows_(z, t, grad_scale=1.0 / max(count, 1))  # z := dz of the mean over tokens
        self.backward(z)
        return StepResult(_sum64(per), count, None)

    def eval_step(self, batch: tuple, state: Any) -> StepResult:
        contexts, targets = batch
        with no_grad():
            z = self.forward(contexts)
            if self.output_path == "reference":
                loss, _ = cross_entropy(z, np.asarray(targets), reduction="sum", ignore_index=None)
            else:
                loss = _sum64(
                    softmax_cross_entropy_rows_(
                        z, self._check_targets("NNLM.eval_step", targets, z.shape[0]), grad_scale=None
                    )
                )
        return StepResult(loss, int(np.shape(targets)[0]), None)

    def _check_targets(self, where: str, targets, B: int) -> np.ndarray:
        t = np.asarray(targets)
        V = self.cfg.vocab_size
        if t.shape != (B,) or t.dtype.kind not in "iu":
            raise ValueError(
                f"{where}: targets must be int token ids of shape ({B},), "
                f"got shape {fmt_shape(t.shape)} dtype {t.dtype}"
            )
        if t.size and (t.min() < 0 or t.max() >= V):
            bad = int(np.flatnonzero((t < 0) | (t >= V))[0])
            raise ValueError(f"{where}: targets must be in [0, {V}), got {t[bad]} at index {bad}")
        return t

    # -- probabilities and decoding -------------------------------------------------------------------
    def logprobs(self, contexts: ArrayLike) -> np.ndarray:
        """log P(w | context) for every row of contexts (B, n-1): (B, V) float64, never with dropout."""
        ctx = self._check_contexts("NNLM.logprobs", contexts)
        with no_grad():
            z, _ = nnlm_forward(self.params, ctx)
        return log_softmax(z.astype(np.float64))

    def _pad(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n1 = self.cfg.context
        ids = ids[max(0, ids.size - n1) :]
        return np.concatenate([np.full(n1 - ids.size, self.cfg.bos_id, dtype=np.int64), ids])

    def next_logprobs(self, context_ids: ArrayLike = ()) -> np.ndarray:
        """log P(w | context) (V,) after the id sequence ``context_ids`` (its last n-1 ids, ``bos_id``-padded)."""
        return self.logprobs(self._pad(context_ids)[None, :])[0]

    def as_step_model(self) -> StepModel:
        """This model in :mod:`rnnkit.decoding`'s protocol: the state of K hypotheses is their last n-1
        ids (K, n-1), ``bos_id`` where the prompt is shorter; no dropout, no caches kept.

        (A separate object because the Trainer's ``initial_state(batch)`` already has the name.)
        """

        def initial_state(prompt_ids):
            return self._pad(prompt_ids)[None, :]  # (1, n-1)

        def step(state, token_ids):
            tok = np.asarray(token_ids, dtype=np.int64).reshape(-1)
            if state.shape != (tok.size, self.cfg.context):
                raise ValueError(
                    f"NNLM step: state must have shape ({tok.size}, {self.cfg.context}), got {fmt_shape(state.shape)}"
                )
            hist = np.concatenate([state[:, 1:], tok[:, None]], axis=1)  # slide the window by one word
            return self.logprobs(hist), hist

        def select(state, indices):
            return state[np.asarray(indices, dtype=np.int64)]

        return StepModel(initial_state, step, select)
