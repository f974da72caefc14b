"""Recurrent language models over any rnnkit cell: embedding, stacked recurrence, softmax output.

    e_t   = Embedding(x_t)                          (T, B, E)
    h_t   = Cell(dropout(e_t), h_{t-1})             (T, B, H)   RNN, GRU, LSTM or MGU, num_layers deep
    z_t   = dropout(h_t) @ W_out^T + b_out          (T, B, V)   W_out = the embedding matrix if tied
    loss  = -sum_t log softmax(z_t)[x_{t+1}]        per-step softmax cross-entropy (CS224N lecture notes)

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

import numpy as np

from rnnkit._validate import check_choice, check_positive_int, check_probability, fmt_shape, resolve_dtype
from rnnkit.batches import Window
from rnnkit.cells import registry
from rnnkit.grad_mode import no_grad
from rnnkit.layers import Embedding, Linear, recurrent_layer
from rnnkit.layers.dropout import Dropout
from rnnkit.layers.linear import linear_backward, linear_forward
from rnnkit.losses import cross_entropy
from rnnkit.module import Module
from rnnkit.trainer import StepResult

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
        if self.init_range is not None and not (isinstance(self.init_range, (int, float)) and self.init_range > 0):
            raise ValueError(f"{w}: init_range must be a positive number or None, got {self.init_range!r}")
        resolve_dtype(w, self.dtype)
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.kind != "rnnlm":
            raise ValueError(f"{w}: kind must be 'rnnlm', got {self.kind!r}")


class _TiedDecoder(Module):
    """z = h @ E^T + b, with E the embedding's weight (owned by the embedding, gradients added there)."""

    def __init__(self, embedding: Embedding, dtype):
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)  # not a submodule: its weight is counted once
        self.register_parameter("bias", np.zeros(embedding.params["weight"].shape[0], dtype=dtype))
        self._cache = None

    def forward(self, h):
        z, self._cache = linear_forward(h, self._embedding.params["weight"], self.params["bias"])
        return z

    def backward(self, dz):
        dh, dweight, dbias = linear_backward(dz, self._cache)
        self._embedding.grads["weight"] += dweight
        self.grads["bias"] += dbias
        return dh


class RNNLM(Module):
    """Recurrent language model; see the module docstring. ``forward(x (T, B), state) -> (logits, state)``."""

    def __init__(self, config: RNNLMConfig):
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
        if c.tie_weights:
            self.decoder = _TiedDecoder(self.embedding, dtype)
        else:
            self.decoder = Linear(c.hidden_size, c.vocab_size, dtype=dtype, seed=int(seeds[4]))
        if c.init_range is not None:
            rng = np.random.default_rng(c.seed)
            for p in self.params.values():
                p[...] = rng.uniform(-c.init_range, c.init_range, size=p.shape)
        self._T = None

    @classmethod
    def from_config(cls, config: dict) -> RNNLM:
        if not isinstance(config, dict) or config.get("kind") != "rnnlm":
            kind = config.get("kind") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"RNNLM.from_config: config must be an rnnlm config, got kind {kind!r}")
        return cls(RNNLMConfig(**config))

    def config(self) -> dict:
        return asdict(self.cfg)

    # -- the model --------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, state=None):
        """Logits (T, B, V) for token ids x (T, B), from ``state`` (None: zeros). Returns (logits, state_T)."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"RNNLM.forward: x must have shape (T, B), got {fmt_shape(x.shape)}")
        e = self.drop_in.forward(self.embedding.forward(x))
        out, state = self.rnn.forward(e, state)
        logits = self.decoder.forward(self.drop_out.forward(out))
        return logits, state

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate d(loss)/d(logits) through every layer, adding into ``grads``."""
        dout = self.drop_out.backward(self.decoder.backward(dlogits))
        de, _ = self.rnn.backward(dout)
        self.embedding.backward(self.drop_in.backward(de))

    def _loss(self, window: Window, logits):
        mask = np.zeros(window.y.shape, dtype=bool)
        mask[window.loss_from :] = True
        loss, dlogits = cross_entropy(logits, window.y, mask=mask, reduction="sum", ignore_index=None)
        return loss, dlogits, window.num_targets

    # -- decoding ---------------------------------------------------------------------------------
    def as_step_model(self):
        """This model in :mod:`rnnkit.decoding`'s protocol (evaluation mode, no caches kept).

        The state of K hypotheses is what ``rnn.forward`` returns for batch K,
        batched along axis 1 (PyTorch's (layers, B, H)); ``select`` reorders it there.
        """
        from rnnkit.activations import log_softmax
        from rnnkit.decoding import StepModel

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
    def initial_state(self, batch):
        return None

    def train_step(self, window: Window, state) -> StepResult:
        """Forward and backward on one window; the returned loss is always the sum over its targets.

        The gradient is that of the configured ``objective``: the mean over
        the window's targets ("token_mean", PyTorch's usual choice), the sum
        over time of the mean over the batch ("batch_mean", Zaremba et al.
        2014, whose learning rate 1 and clipping at 5 assume it), or the sum.
        """
        logits, final = self.forward(window.x, state)
        loss, dlogits, count = self._loss(window, logits)
        if self.cfg.objective == "token_mean":
            dlogits *= 1.0 / max(count, 1)
        elif self.cfg.objective == "batch_mean":
            dlogits *= 1.0 / window.x.shape[1]
        self.backward(dlogits)
        carry = final if window.carry == window.x.shape[0] else self.rnn.state_at(window.carry)
        return StepResult(loss, count, carry)

    def eval_step(self, window: Window, state) -> StepResult:
        with no_grad():
            logits, final = self.forward(window.x, state)
            loss, _, count = self._loss(window, logits)
            if window.carry != window.x.shape[0]:
                _, final = self.forward(window.x[: window.carry], state)
        return StepResult(loss, count, final)
