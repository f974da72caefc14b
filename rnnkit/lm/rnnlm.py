"""Recurrent language models over any rnnkit cell: embedding, stacked recurrence, softmax output.

    e_t   = Embedding(x_t)                          (T, B, E)
    h_t   = Cell(dropout(e_t), h_{t-1})             (T, B, H)   RNN, GRU, LSTM or MGU, num_layers deep
    z_t   = dropout(h_t) @ W_out^T + b_out          (T, B, V)   W_out = the embedding matrix if tied
    loss  = -sum_t log softmax(z_t)[x_{t+1}]        per-step softmax cross-entropy (CS224N lecture notes)

The output layer runs as one fused path by default (:mod:`rnnkit.layers.output`: the logits,
softmax and cross-entropy gradient in one (T*B, V) buffer), bit-identical to the unfused
reference (``model.output_path = "reference"``). With ``adaptive_cutoffs`` the softmax is
adaptive (Grave et al. 2017, :mod:`rnnkit.layers.adaptive`; word ids must be sorted by
frequency, most frequent first, as :class:`rnnkit.lm.vocab.Vocabulary` numbers them after
its special tokens): ``forward`` then returns log-probabilities, which serve as
logits everywhere (decoding, ``cross_entropy``).

Perplexity is exp(mean loss per token) and bits per character mean loss / ln 2.
The same ``dropout`` p is applied to the embeddings, between recurrent layers
and to the top layer's output (Zaremba et al. 2014); ``variational`` makes
all of them, and ``recurrent_dropout``, one mask per sequence (Gal and
Ghahramani 2016); ``weight_drop`` is DropConnect on the recurrent weights
(Merity et al. 2017); ``tie_weights`` shares the embedding with the output
layer (Press and Wolf 2017; Inan et al. 2017), which needs E = H.

The model trains with :class:`rnnkit.trainer.Trainer` on
:class:`rnnkit.batches.StreamBatches` windows (truncated BPTT, state carried
across batches) and decodes with :mod:`rnnkit.decoding`.

Example
-------
>>> import numpy as np
>>> lm = RNNLM(RNNLMConfig(vocab_size=12, cell="gru", embedding_size=8, hidden_size=8, num_layers=1))
>>> logits, state = lm.forward(np.zeros((5, 3), dtype=np.int64))
>>> logits.shape, state.shape
((5, 3, 12), (1, 3, 8))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import (
    check_choice,
    check_positive_int,
    check_probability,
    check_real,
    fmt_shape,
    resolve_dtype,
)
from rnnkit.batches import Window
from rnnkit.cells import registry
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.layers import Embedding, Linear, recurrent_layer
from rnnkit.layers.adaptive import AdaptiveLogSoftmaxWithLoss, adaptive_backward, adaptive_forward, adaptive_log_prob
from rnnkit.layers.adaptive import check_cutoffs as _check_cutoffs
from rnnkit.layers.dropout import Dropout
from rnnkit.layers.linear import linear_backward, linear_forward
from rnnkit.layers.output import output_backward_into, output_forward
from rnnkit.losses import cross_entropy
from rnnkit.module import Module
from rnnkit.protocols import StepModel, StepResult

CELLS = registry.names(model_choice=True)  # the families offered by name, read from the registry
OBJECTIVES = ("token_mean", "batch_mean", "sum")


@dataclass(frozen=True)
class RNNLMConfig:
    """Everything that defines an RNN language model; saved with each checkpoint."""

    vocab_size: int
    cell: str = "lstm"  # rnn | gru | lstm | mgu
    embedding_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.0  # embeddings, between layers, top output
    recurrent_dropout: float = 0.0  # on h_{t-1} in the recurrent product
    variational: bool = False  # one mask per sequence for every dropout
    weight_drop: float = 0.0  # DropConnect on W_hh
    tie_weights: bool = False  # output layer = embedding matrix (needs embedding_size == hidden_size)
    init_range: float | None = None  # every weight uniform in +/- init_range (Zaremba et al.: 0.1); None: PyTorch's
    objective: str = "token_mean"  # what the gradient is of: token_mean | batch_mean | sum (see train_step)
    # adaptive softmax (Grave et al. 2017): the word ids (sorted by frequency) are cut at these, e.g. (2000, 6000);
    # None: the full softmax
    adaptive_cutoffs: tuple[int, ...] | None = None
    div_value: float = 4.0  # adaptive softmax: cluster i's projection is hidden_size // div_value^(i+1) wide
    dtype: str = "float32"
    seed: int = 0
    kind: str = "rnnlm"

    def __post_init__(self):
        w = "RNNLMConfig"
        check_positive_int(w, "vocab_size", self.vocab_size)
        check_choice(w, "cell", self.cell, registry.names(model_choice=True))
        check_choice(w, "objective", self.objective, OBJECTIVES)
        check_positive_int(w, "embedding_size", self.embedding_size)
        check_positive_int(w, "hidden_size", self.hidden_size)
        check_positive_int(w, "num_layers", self.num_layers)
        for name in ("dropout", "recurrent_dropout", "weight_drop"):
            check_probability(w, name, getattr(self, name))
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"{w}: tie_weights needs embedding_size == hidden_size, got "
                f"{self.embedding_size} and {self.hidden_size}"
            )
        check_real(w, "div_value", self.div_value, low=1.0)
        if self.adaptive_cutoffs is not None:
            cut = self.adaptive_cutoffs
            object.__setattr__(
                self,
                "adaptive_cutoffs",
                _check_cutoffs(w, cut, self.vocab_size, "adaptive_cutoffs"),
            )
            if self.tie_weights:
                raise ValueError(
                    f"{w}: tie_weights needs the full softmax, got adaptive_cutoffs {list(self.adaptive_cutoffs)}"
                )
            narrowest = int(self.hidden_size // self.div_value ** len(self.adaptive_cutoffs))
            if narrowest < 1:
                raise ValueError(
                    f"{w}: div_value must leave every adaptive tail at least 1 wide (hidden_size // "
                    f"div_value^{len(self.adaptive_cutoffs)} >= 1), got div_value {self.div_value}"
                )
        if self.init_range is not None and not (isinstance(self.init_range, (int, float)) and self.init_range > 0):
            raise ValueError(f"{w}: init_range must be a positive number or None, got {self.init_range!r}")
        resolve_dtype(w, self.dtype)
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.kind != "rnnlm":
            raise ValueError(f"{w}: kind must be 'rnnlm', got {self.kind!r}")


class _TiedDecoder(Module):
    """z = h @ E^T + b, with E the embedding's weight (owned by the embedding, gradients added there)."""

    def __init__(self, embedding: Embedding, dtype: DTypeLike) -> None:
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)  # not a submodule: its weight is counted once
        self.register_parameter("bias", np.zeros(embedding.params["weight"].shape[0], dtype=dtype))
        self._cache = None

    def forward(self, h: np.ndarray) -> np.ndarray:
        z, self._cache = linear_forward(h, self._embedding.params["weight"], self.params["bias"])
        return z

    def backward(self, dz: np.ndarray) -> np.ndarray:
        dh, dweight, dbias = linear_backward(dz, self._cache)
        self._embedding.grads["weight"] += dweight
        self.grads["bias"] += dbias
        return dh


class RNNLM(Module):
    """Recurrent language model; see the module docstring. ``forward(x (T, B), state) -> (logits, state)``."""

    def __init__(self, config: RNNLMConfig) -> None:
        super().__init__()
        if not isinstance(config, RNNLMConfig):
            raise TypeError(f"RNNLM: config must be an RNNLMConfig, got {type(config).__name__}")
        self.cfg = c = config
        dtype = resolve_dtype("RNNLM", c.dtype)
        seeds = np.random.SeedSequence(c.seed).generate_state(5)
        self.embedding = Embedding(c.vocab_size, c.embedding_size, dtype=dtype, seed=int(seeds[0]))
        self.drop_in = Dropout(c.dropout, c.variational, seed=int(seeds[1]))
        self.rnn = recurrent_layer(
            c.cell,
            c.embedding_size,
            c.hidden_size,
            num_layers=c.num_layers,
            dropout=c.dropout,
            recurrent_dropout=c.recurrent_dropout,
            variational=c.variational,
            weight_drop=c.weight_drop,
            dtype=dtype,
            seed=int(seeds[2]),
        )
        self.drop_out = Dropout(c.dropout, c.variational, seed=int(seeds[3]))
        if c.adaptive_cutoffs is not None:
            self.decoder = AdaptiveLogSoftmaxWithLoss(
                c.hidden_size,
                c.vocab_size,
                c.adaptive_cutoffs,
                c.div_value,
                head_bias=True,
                dtype=dtype,
                seed=int(seeds[4]),
            )
        elif c.tie_weights:
            self.decoder = _TiedDecoder(self.embedding, dtype)
        else:
            self.decoder = Linear(c.hidden_size, c.vocab_size, dtype=dtype, seed=int(seeds[4]))
        if c.init_range is not None:
            rng = np.random.default_rng(c.seed)
            for p in self.params.values():
                p[...] = rng.uniform(-c.init_range, c.init_range, size=p.shape)
        self._T = None
        self.output_path = "fused"
        self._logits_buffer = None  # (T*B, V) kept between training steps by the fused path

    @property
    def output_path(self) -> str:
        """Which implementation of the full softmax output trains and evaluates: "fused" or "reference".

        Both give the same numbers to the last bit (rnnkit.layers.output); the adaptive softmax has one path."""
        return self._output_path

    @output_path.setter
    def output_path(self, value: str) -> None:
        object.__setattr__(self, "_output_path", check_choice("RNNLM", "output_path", value, ("fused", "reference")))

    @classmethod
    def from_config(cls, config: dict) -> RNNLM:
        if not isinstance(config, dict) or config.get("kind") != "rnnlm":
            kind = config.get("kind") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"RNNLM.from_config: config must be an rnnlm config, got kind {kind!r}")
        return cls(RNNLMConfig(**config))

    def config(self) -> dict:
        cfg = asdict(self.cfg)
        if cfg["adaptive_cutoffs"] is not None:
            # a list, as JSON gives it back: a saved config compares equal to this one
            cfg["adaptive_cutoffs"] = list(cfg["adaptive_cutoffs"])
        return cfg

    # -- the model --------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        """Logits (T, B, V) for token ids x (T, B), from ``state`` (None: zeros). Returns (logits, state_T)."""
        h, state = self._features(x, state)
        if self.cfg.adaptive_cutoffs is not None:  # log-probabilities, (T, B, V)
            T, B, H = h.shape
            logp = adaptive_log_prob(self.decoder.params, h.reshape(T * B, H), self.cfg.adaptive_cutoffs)
            return logp.reshape(T, B, -1), state
        return self.decoder.forward(h), state

    def _features(self, x, state):
        """The top layer's output after dropout, h (T, B, H): what the output layer reads."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"RNNLM.forward: x must have shape (T, B), got {fmt_shape(x.shape)}")
        e = self.drop_in.forward(self.embedding.forward(x))
        out, state = self.rnn.forward(e, state)
        return self.drop_out.forward(out), state

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate d(loss)/d(logits) through every layer, adding into ``grads`` (full softmax only)."""
        if self.cfg.adaptive_cutoffs is not None:
            raise RuntimeError(
                "RNNLM.backward: an adaptive-softmax model has no logits to backpropagate; train it with train_step"
            )
        self._backward_features(self.decoder.backward(dlogits))

    def _backward_features(self, dh: np.ndarray) -> None:
        de, _ = self.rnn.backward(self.drop_out.backward(dh))
        self.embedding.backward(self.drop_in.backward(de))

    def _loss(self, window: Window, logits):
        mask = np.zeros(window.y.shape, dtype=bool)
        mask[window.loss_from :] = True
        loss, dlogits = cross_entropy(logits, window.y, mask=mask, reduction="sum", ignore_index=None)
        return loss, dlogits, window.num_targets

    # -- decoding ---------------------------------------------------------------------------------
    def as_step_model(self) -> StepModel:
        """This model in :mod:`rnnkit.decoding`'s protocol (evaluation mode, no caches kept).

        The state of K hypotheses is what ``rnn.forward`` returns for batch K,
        batched along axis 1 (PyTorch's (layers, B, H)); ``select`` reorders it there.
        """
        from rnnkit.activations import log_softmax

        self.eval()

        def initial_state(prompt_ids):
            prompt_ids = np.asarray(prompt_ids, dtype=np.int64)
            if prompt_ids.size == 0:
                return None
            with no_grad():
                _, state = self.forward(prompt_ids[:, None])
            return state

        def step(state, token_ids):
            token_ids = np.asarray(token_ids, dtype=np.int64)
            if state is not None:  # one state row per hypothesis
                K = token_ids.shape[0]
                first = state[0] if isinstance(state, tuple) else state
                if first.shape[1] != K:
                    state = select(state, np.zeros(K, dtype=np.int64))
            with no_grad():
                logits, state = self.forward(token_ids[None, :], state)
            return log_softmax(logits[0].astype(np.float64)), state

        def select(state, indices):
            if state is None:
                return None
            if isinstance(state, tuple):
                return tuple(s[:, indices] for s in state)
            return state[:, indices]

        return StepModel(initial_state, step, select)

    # -- the Trainer's protocol -------------------------------------------------------------------
    def initial_state(self, batch: Any) -> None:
        return None

    def train_step(self, window: Window, state: Any) -> StepResult:
        """Forward and backward on one window; the returned loss is always the sum over its targets.

        The gradient is that of the configured ``objective``: the mean over
        the window's targets ("token_mean", PyTorch's usual choice), the sum
        over time of the mean over the batch ("batch_mean", Zaremba et al.
        2014, whose learning rate 1 and clipping at 5 assume it), or the sum.
        """
        count = window.num_targets
        scale = self._grad_scale(window, count)
        if self.cfg.adaptive_cutoffs is None and self.output_path == "reference":
            logits, final = self.forward(window.x, state)
            loss, dlogits, count = self._loss(window, logits)
            if scale != 1.0:
                dlogits *= scale
            self.backward(dlogits)
        else:
            h, final = self._features(window.x, state)
            loss, dh = self._output_loss(h, window, scale)
            self._backward_features(dh)
        carry = final if window.carry == window.x.shape[0] else self.rnn.state_at(window.carry)
        return StepResult(loss, count, carry)

    def eval_step(self, window: Window, state: Any) -> StepResult:
        with no_grad():
            if self.cfg.adaptive_cutoffs is None and self.output_path == "reference":
                logits, final = self.forward(window.x, state)
                loss, _, count = self._loss(window, logits)
            else:
                h, final = self._features(window.x, state)
                loss, _ = self._output_loss(h, window, None)
                count = window.num_targets
            if window.carry != window.x.shape[0]:
                _, final = self._features(window.x[: window.carry], state)
        return StepResult(loss, count, final)

    # -- the output layer, fused or adaptive ------------------------------------------------------------
    def _grad_scale(self, window: Window, count: int) -> float:
        if self.cfg.objective == "token_mean":
            return 1.0 / max(count, 1)
        if self.cfg.objective == "batch_mean":
            return 1.0 / window.x.shape[1]
        return 1.0

    def _output_loss(self, h: np.ndarray, window: Window, scale):
        """(loss summed over the window's targets, dh (T, B, H) or None) of the fused or adaptive output.

        With gradients enabled, the decoder's (or the tied embedding's) gradients are added into
        ``grads`` here, scaled by ``scale`` as the objective says.
        """
        T, B, H = h.shape
        h2 = h.reshape(T * B, H)
        y = np.asarray(window.y).reshape(T * B)
        real = None
        if window.loss_from:
            real = np.zeros((T, B), dtype=bool)
            real[window.loss_from :] = True
            real = real.reshape(T * B)
        grad = scale is not None and is_grad_enabled()
        dec = self.decoder
        if self.cfg.adaptive_cutoffs is not None:
            nll, cache = adaptive_forward(
                dec.params, h2, y, self.cfg.adaptive_cutoffs, real=real, grad_scale=scale if grad else 1.0
            )
            loss = float(nll.astype(np.float64).sum())
            if not grad:
                return loss, None
            dh2, grads = adaptive_backward(dec.params, cache)
            own = dec.grads
            for name, g in grads.items():
                own[name] += g
            return loss, dh2.reshape(T, B, H)
        W = self.embedding.params["weight"] if self.cfg.tie_weights else dec.params["weight"]
        V = W.shape[0]
        out = self._logits_buffer  # the (T*B, V) buffer kept between steps
        if out is None or out.shape != (T * B, V):
            out = np.empty((T * B, V), dtype=W.dtype)
            if grad:  # training shapes repeat; an evaluation of another shape does not replace them
                self._logits_buffer = out
        loss, _, cache = output_forward(h2, W, dec.params["bias"], y, real=real, grad_scale=scale or 1.0, out=out)
        if not grad:
            return loss, None
        dW = (self.embedding.grads if self.cfg.tie_weights else dec.grads)["weight"]
        dh2 = output_backward_into(cache, dW, dec.grads["bias"])  # dW += dz^T h, db += sum_n dz
        return loss, dh2.reshape(T, B, H)
