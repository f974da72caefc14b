"""The encoder-decoder model: config, batch, forward, loss, backward, the Trainer's protocol.

    M, f      = Encoder(src, lengths)                       flat or hierarchical (rnnkit.seq2seq.encoder)
    s_0       = Bridge(f)                                   projection | concat | zeros
    z_t, a_t  = Decoder step(y_{t-1}, s_{t-1}, M, cov_t)    rnnkit.seq2seq.decoder, t = 0 .. T-1
    loss      = sum_{t < n_b} -log P_t(y_t) + lambda sum_{t < n_b} sum_i min(a_t,i, cov_t,i)

P_t is softmax(z_t) (``rnnkit.cross_entropy``'s maths) or, with copy, the
pointer-generator mixture over the extended vocabulary (rnnkit.seq2seq.copy);
n_b is target b's length (its EOS included); lambda is
``coverage_loss_weight``. The loss is summed over the batch's target tokens;
``train_step`` takes the gradient of its mean per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_choice, check_positive_int, check_probability, check_real, fmt_shape, resolve_dtype
from rnnkit.cells import registry
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.layers.embedding import embedding_backward
from rnnkit.losses import cross_entropy
from rnnkit.module import Module
from rnnkit.protocols import StepResult
from rnnkit.seq2seq import attention as att
from rnnkit.seq2seq import copy as ptr
from rnnkit.seq2seq.decoder import Decoder, DecoderMasks
from rnnkit.seq2seq.encoder import BRIDGES, Bridge, Encoder, HierarchicalEncoder, has_cell_state

ENCODERS = ("flat", "hierarchical")


def scheduled_sampling_probability(step: int, k: float, schedule: str = "inverse_sigmoid") -> float:
    """1 - eps_i of Bengio et al. 2015, the probability of feeding the model's sample at update ``step``:

    inverse_sigmoid  eps_i = k / (k + exp(i / k))          (k >= 1)
    exponential      eps_i = k ** i                        (k < 1)
    linear           eps_i = max(0, 1 - i / k)             (k updates to reach eps = 0)
    """
    where = "scheduled_sampling_probability"
    check_choice(where, "schedule", schedule, ("inverse_sigmoid", "exponential", "linear"))
    step = check_positive_int(where, "step", step, minimum=0)
    if schedule == "inverse_sigmoid":
        k = check_real(where, "k", k, low=1.0)
        eps = k / (k + np.exp(min(step / k, 700.0)))
    elif schedule == "exponential":
        k = check_real(where, "k", k, low=0.0, high=1.0, high_open=True)
        eps = k**step
    else:
        k = check_real(where, "k", k, low=0.0, low_open=True)
        eps = max(0.0, 1.0 - step / k)
    return float(1.0 - eps)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that defines a sequence-to-sequence model; saved with each checkpoint."""

    src_vocab_size: int
    tgt_vocab_size: int
    cell: str = "lstm"  # any registered cell family (rnnkit.cells.registry), for encoder and decoder
    embedding_size: int = 64  # source and target embeddings
    hidden_size: int = 128  # encoder, per direction
    encoder_layers: int = 1
    bidirectional: bool = False
    encoder: str = "flat"  # flat | hierarchical (word-level then sentence-level; attention over sentences)
    decoder_hidden_size: int | None = None  # None: hidden_size * directions (what "concat" and "dot" need)
    decoder_layers: int = 1
    bridge: str = "projection"  # projection | concat | zeros (see rnnkit.seq2seq.encoder)
    attention: str = "additive"  # none | dot | general | concat | additive
    attention_size: int | None = None  # A of the tanh scores; None: the decoder's hidden size
    input_feeding: bool = False  # feed ht_{t-1} with the next input (Luong et al. 2015)
    copy: bool = False  # pointer-generator over the extended vocabulary (See et al. 2017)
    coverage: bool = False  # coverage vector in the attention scores (concat or additive only)
    coverage_loss_weight: float = 0.0  # lambda of the coverage loss (needs coverage)
    dropout: float = 0.0  # between stacked layers, encoder and decoder
    recurrent_dropout: float = 0.0  # decoder: on s_{t-1} in the recurrent product
    variational: bool = False  # decoder dropouts: one mask per sequence
    zoneout: float = 0.0  # decoder: probability of keeping each unit's previous value
    scheduled_sampling: float = 0.0  # initial probability of feeding the model's own sample instead of y_{t-1}
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    unk_id: int = 3  # fed in place of extended (copied) ids >= tgt_vocab_size
    dtype: str = "float32"
    seed: int = 0
    kind: str = "seq2seq"

    def __post_init__(self):
        w = "Seq2SeqConfig"
        for name in ("src_vocab_size", "tgt_vocab_size", "embedding_size", "hidden_size"):
            check_positive_int(w, name, getattr(self, name))
        for name in ("encoder_layers", "decoder_layers"):
            check_positive_int(w, name, getattr(self, name))
        for name in ("decoder_hidden_size", "attention_size"):
            if getattr(self, name) is not None:
                check_positive_int(w, name, getattr(self, name))
        check_choice(w, "cell", self.cell, registry.names())  # any registered family
        check_choice(w, "encoder", self.encoder, ENCODERS)
        check_choice(w, "bridge", self.bridge, BRIDGES)
        check_choice(w, "attention", self.attention, att.VARIANTS)
        for name in ("bidirectional", "input_feeding", "copy", "coverage", "variational"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{w}: {name} must be a bool, got {getattr(self, name)!r}")
        for name in ("dropout", "recurrent_dropout", "zoneout"):
            check_probability(w, name, getattr(self, name))
        check_probability(w, "scheduled_sampling", self.scheduled_sampling, allow_one=True)
        check_real(w, "coverage_loss_weight", self.coverage_loss_weight, low=0.0)
        for name in ("pad_id", "bos_id", "eos_id", "unk_id"):
            v = check_positive_int(w, name, getattr(self, name), minimum=0)
            if v >= self.tgt_vocab_size:
                raise ValueError(f"{w}: {name} must be < tgt_vocab_size={self.tgt_vocab_size}, got {v}")
        resolve_dtype(w, self.dtype)
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.kind != "seq2seq":
            raise ValueError(f"{w}: kind must be 'seq2seq', got {self.kind!r}")
        Dm, H = self.memory_size, self.decoder_hidden
        if self.bridge == "concat" and H != Dm:
            raise ValueError(
                f"{w}: bridge 'concat' needs decoder_hidden_size == hidden_size * directions = {Dm}, got {H}"
            )
        if self.attention == "dot" and H != Dm:
            raise ValueError(
                f"{w}: attention 'dot' needs decoder_hidden_size == hidden_size * directions = {Dm}, got {H}"
            )
        if self.coverage and self.attention not in att.COVERAGE_VARIANTS:
            raise ValueError(
                f"{w}: coverage needs attention in {att.COVERAGE_VARIANTS} (a tanh score it can enter), "
                f"got attention={self.attention!r}"
            )
        if self.coverage_loss_weight and not self.coverage:
            raise ValueError(f"{w}: coverage_loss_weight must be 0 without coverage, got {self.coverage_loss_weight}")
        if self.copy and self.attention == "none":
            raise ValueError(f"{w}: copy needs an attention distribution, got attention='none'")
        if self.copy and self.encoder == "hierarchical":
            raise ValueError(f"{w}: copy needs word positions, got encoder='hierarchical' (it attends over sentences)")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def memory_size(self) -> int:
        """Dm, the width of the encoder's outputs."""
        return self.hidden_size * self.directions

    @property
    def decoder_hidden(self) -> int:
        return self.memory_size if self.decoder_hidden_size is None else self.decoder_hidden_size

    @property
    def attention_dim(self) -> int:
        return self.decoder_hidden if self.attention_size is None else self.attention_size


@dataclass
class Seq2SeqBatch:
    """A padded batch (time-major). Flat sources: src (S, B); hierarchical: src (N, W, B) with word_lengths (N, B).

    src_lengths (B,) counts tokens (flat) or sentences (hierarchical). tgt_in (T, B) starts with BOS,
    tgt_out (T, B) ends with EOS, tgt_lengths (B,) counts tgt_out's real steps. With copy, src_ext (S, B)
    holds extended source ids, tgt_out may hold extended ids, and n_oov counts the batch's temporary ids."""

    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_lengths: np.ndarray
    word_lengths: np.ndarray | None = None
    src_ext: np.ndarray | None = None
    n_oov: int = 0

    @property
    def num_tokens(self) -> int:
        return int(np.sum(self.tgt_lengths))

    @property
    def batch_size(self) -> int:
        """B, the number of examples (columns)."""
        return int(self.tgt_out.shape[1])

    def rows(self, lo: int, hi: int) -> Seq2SeqBatch:
        """Examples [lo, hi) of the batch, padding and ``n_oov`` kept (a data-parallel rank's shard; may be empty).

        Every array keeps its padded length, so each example is computed exactly
        as in the whole batch; ``n_oov`` stays the batch's, so the extended ids
        of ``src_ext`` and ``tgt_out`` keep their meaning.
        """
        B = self.batch_size
        if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)) and 0 <= lo <= hi <= B):
            raise ValueError(f"Seq2SeqBatch.rows: need 0 <= lo <= hi <= {B}, got lo={lo!r}, hi={hi!r}")

        def cols(a):
            return None if a is None else a[..., lo:hi]

        return Seq2SeqBatch(
            src=cols(self.src),
            src_lengths=self.src_lengths[lo:hi],
            tgt_in=cols(self.tgt_in),
            tgt_out=cols(self.tgt_out),
            tgt_lengths=self.tgt_lengths[lo:hi],
            word_lengths=cols(self.word_lengths),
            src_ext=cols(self.src_ext),
            n_oov=self.n_oov,
        )

    @classmethod
    def from_sequences(
        cls,
        src: Sequence[Sequence[int]],
        tgt: Sequence[Sequence[int]],
        *,
        bos_id: int,
        eos_id: int,
        pad_id: int = 0,
        src_ext: Sequence[Sequence[int]] | None = None,
        tgt_ext: Sequence[Sequence[int]] | None = None,
        n_oov: int = 0,
    ) -> Seq2SeqBatch:
        """Pad lists of id lists: tgt_in = [BOS] + tgt, tgt_out = tgt + [EOS] (tgt_ext + [EOS] if given)."""
        B = len(src)
        if B == 0 or len(tgt) != B:
            raise ValueError(f"Seq2SeqBatch.from_sequences: src and tgt must be equally long and non-empty, got {B}")
        S = max(len(s) for s in src)
        T = max(len(t) for t in tgt) + 1
        src_a = np.full((S, B), pad_id, dtype=np.int64)
        ext_a = None if src_ext is None else np.full((S, B), pad_id, dtype=np.int64)
        tin = np.full((T, B), pad_id, dtype=np.int64)
        tout = np.full((T, B), pad_id, dtype=np.int64)
        for b in range(B):
            if len(src[b]) == 0:
                raise ValueError(f"Seq2SeqBatch.from_sequences: src[{b}] must hold at least one id, got []")
            src_a[: len(src[b]), b] = src[b]
            if ext_a is not None:
                ext_a[: len(src[b]), b] = src_ext[b]
            tin[: len(tgt[b]) + 1, b] = [bos_id, *tgt[b]]
            tout[: len(tgt[b]) + 1, b] = [*(tgt[b] if tgt_ext is None else tgt_ext[b]), eos_id]
        return cls(
            src=src_a,
            src_lengths=np.array([len(s) for s in src], dtype=np.int64),
            tgt_in=tin,
            tgt_out=tout,
            tgt_lengths=np.array([len(t) + 1 for t in tgt], dtype=np.int64),
            src_ext=ext_a,
            n_oov=int(n_oov),
        )

    @classmethod
    def from_documents(
        cls,
        docs: Sequence[Sequence[Sequence[int]]],
        tgt: Sequence[Sequence[int]] | None = None,
        *,
        bos_id: int = 1,
        eos_id: int = 2,
        pad_id: int = 0,
    ) -> Seq2SeqBatch:
        """Pad multi-sentence sources for the hierarchical encoder: ``docs[b]`` is a list of sentences,
        each a non-empty list of ids -> src (N, W, B), src_lengths (sentences), word_lengths (N, B).
        ``tgt`` (lists of ids) as in ``from_sequences``; None for decoding."""
        where = "Seq2SeqBatch.from_documents"
        B = len(docs)
        if B == 0 or any(len(d) == 0 for d in docs) or any(len(s) == 0 for d in docs for s in d):
            raise ValueError(f"{where}: docs must be non-empty lists of non-empty sentences, got {docs!r:.80}")
        N = max(len(d) for d in docs)
        W = max(len(s) for d in docs for s in d)
        src = np.full((N, W, B), pad_id, dtype=np.int64)
        wl = np.ones((N, B), dtype=np.int64)
        for b, d in enumerate(docs):
            for n, sent in enumerate(d):
                src[n, : len(sent), b] = sent
                wl[n, b] = len(sent)
        t = cls.from_sequences(
            [[pad_id]] * B, tgt if tgt is not None else [[] for _ in docs], bos_id=bos_id, eos_id=eos_id, pad_id=pad_id
        )
        t.src, t.src_lengths, t.word_lengths = src, np.array([len(d) for d in docs], dtype=np.int64), wl
        return t

    @classmethod
    def from_sources(
        cls,
        src: Sequence[Sequence[int]],
        *,
        pad_id: int = 0,
        src_ext: Sequence[Sequence[int]] | None = None,
        n_oov: int = 0,
    ) -> Seq2SeqBatch:
        """A batch of sources only, for decoding (its targets are one padding step, never read)."""
        tgt = [[] for _ in src]
        b = cls.from_sequences(src, tgt, bos_id=pad_id, eos_id=pad_id, pad_id=pad_id, src_ext=src_ext, n_oov=n_oov)
        return b


@dataclass
class Seq2SeqOutput:
    """What ``forward`` returns. logits (T, B, V); attention (T, B, S) (None without attention); p_gen (T, B)
    with copy; coverage (T, B, S) the coverage vector before each step (with coverage); decoder_inputs (T, B)
    the tokens fed (scheduled sampling's samples included); decoder_masks the regularisers' masks."""

    logits: np.ndarray
    attention: np.ndarray | None
    p_gen: np.ndarray | None
    coverage: np.ndarray | None
    decoder_inputs: np.ndarray
    decoder_masks: DecoderMasks | None


@dataclass
class Seq2SeqLoss:
    """loss = nll + coverage_loss_weight * coverage_loss, sums over the ``count`` target tokens; the rest are
    the gradients ``backward`` consumes (of the unscaled loss)."""

    loss: float
    nll: float
    coverage_loss: float
    count: int
    dlogits: np.ndarray = field(repr=False)
    dp_gen: np.ndarray | None = field(default=None, repr=False)
    dattention: np.ndarray | None = field(default=None, repr=False)
    dcoverage: np.ndarray | None = field(default=None, repr=False)


class Seq2Seq(Module):
    """Encoder-decoder with attention, copy and coverage; see :mod:`rnnkit.seq2seq`."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"Seq2Seq: config must be a Seq2SeqConfig, got {type(config).__name__}")
        self.cfg = c = config
        dtype = resolve_dtype("Seq2Seq", c.dtype)
        self.dtype = dtype
        seeds = [int(s) for s in np.random.SeedSequence(c.seed).generate_state(3)]
        enc = HierarchicalEncoder if c.encoder == "hierarchical" else Encoder
        self.encoder = enc(c, dtype, seeds[0])
        self.bridge = Bridge(
            c.bridge, c.memory_size, c.decoder_hidden, c.decoder_layers, has_cell_state(c.cell), dtype, seeds[1]
        )
        self.decoder = Decoder(c, c.memory_size, dtype, seeds[2])
        self._cache = None
        self._sampling = float(c.scheduled_sampling)

    @property
    def sampling_probability(self) -> float:
        """Scheduled sampling's current probability of feeding a sample (starts at the config's value).

        Bengio et al. 2015 raise it during training: set it before each step, for instance to
        ``scheduled_sampling_probability(step, k)``."""
        return self._sampling

    @sampling_probability.setter
    def sampling_probability(self, p: float) -> None:
        self._sampling = check_probability("Seq2Seq.sampling_probability", "p", p, allow_one=True)

    @classmethod
    def from_config(cls, config: dict) -> Seq2Seq:
        if not isinstance(config, dict) or config.get("kind") != "seq2seq":
            kind = config.get("kind") if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"Seq2Seq.from_config: config must be a seq2seq config, got kind {kind!r}")
        return cls(Seq2SeqConfig(**config))

    def config(self) -> dict:
        return asdict(self.cfg)

    # -- validation -------------------------------------------------------------------------------
    def _check_ids(self, where, name, a, ndim, high):
        a = np.asarray(a)
        if a.ndim != ndim or a.dtype.kind not in "iu":
            raise TypeError(f"{where}: {name} must be a {ndim}-D integer array, got shape {a.shape} dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= high):
            bad = int(a.min()) if a.min() < 0 else int(a.max())
            raise ValueError(f"{where}: {name} must hold ids in [0, {high}), got {bad}")
        return a.astype(np.int64, copy=False)

    def _check_lengths(self, where, name, lengths, B, high):
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"{where}: {name} must be an integer array of shape ({B},), got {lengths!r}")
        if (lengths < 1).any() or (lengths > high).any():
            raise ValueError(f"{where}: {name} must be in [1, {high}], got {lengths.tolist()}")
        return lengths.astype(np.int64)

    def check_batch(self, batch: Seq2SeqBatch, where: str = "Seq2Seq.forward") -> Seq2SeqBatch:
        """Validate a batch at the public boundary; errors name the field."""
        c = self.cfg
        if not isinstance(batch, Seq2SeqBatch):
            raise TypeError(f"{where}: batch must be a Seq2SeqBatch, got {type(batch).__name__}")
        hier = c.encoder == "hierarchical"
        src = self._check_ids(where, "batch.src", batch.src, 3 if hier else 2, c.src_vocab_size)
        B = src.shape[-1]
        lengths = self._check_lengths(where, "batch.src_lengths", batch.src_lengths, B, src.shape[0])
        tgt_in = self._check_ids(where, "batch.tgt_in", batch.tgt_in, 2, c.tgt_vocab_size + batch.n_oov)
        tgt_out = self._check_ids(where, "batch.tgt_out", batch.tgt_out, 2, c.tgt_vocab_size + batch.n_oov)
        if tgt_in.shape != tgt_out.shape or tgt_in.shape[1] != B:
            raise ValueError(
                f"{where}: batch.tgt_in and batch.tgt_out must both have shape (T, {B}), "
                f"got {fmt_shape(tgt_in.shape)} and {fmt_shape(tgt_out.shape)}"
            )
        tl = self._check_lengths(where, "batch.tgt_lengths", batch.tgt_lengths, B, tgt_in.shape[0])
        wl = None
        if hier:
            wl = np.asarray(batch.word_lengths) if batch.word_lengths is not None else None
            if wl is None or wl.shape != src.shape[::2] or wl.dtype.kind not in "iu":
                raise ValueError(f"{where}: batch.word_lengths must be an integer array of shape {src.shape[::2]}")
            real = np.arange(src.shape[0])[:, None] < lengths[None, :]
            if ((wl < 1) | (wl > src.shape[1]))[real].any():
                raise ValueError(f"{where}: batch.word_lengths must be in [1, {src.shape[1]}] on real sentences")
        ext = None
        if c.copy:
            if batch.src_ext is None:
                raise ValueError(f"{where}: batch.src_ext must be given when the model copies, got None")
            ext = self._check_ids(where, "batch.src_ext", batch.src_ext, 2, c.tgt_vocab_size + batch.n_oov)
            if ext.shape != src.shape:
                raise ValueError(f"{where}: batch.src_ext must have the shape of src {src.shape}, got {ext.shape}")
        elif batch.n_oov:
            raise ValueError(f"{where}: batch.n_oov must be 0 for a model without copy, got {batch.n_oov}")
        return Seq2SeqBatch(src, lengths, tgt_in, tgt_out, tl, wl, ext, int(batch.n_oov))

    # -- forward ----------------------------------------------------------------------------------
    def encode(
        self, src: np.ndarray, lengths: ArrayLike, word_lengths: ArrayLike | None = None
    ) -> tuple[tuple, tuple, list]:
        """Encoder, bridge and keys: returns (memory tuple for the decoder, initial decoder states)."""
        c = self.cfg
        if c.encoder == "hierarchical":
            M, finals = self.encoder.forward(src, lengths, word_lengths)
        else:
            M, finals = self.encoder.forward(src, lengths)
        B, S, _ = M.shape
        mask = np.arange(S)[None, :] < lengths[:, None]  # (B, S) real source positions
        keys, kcache = att.keys_forward(c.attention, self.decoder.attention.params, M)
        fixed = finals[0] if c.attention == "none" else None
        return (M, keys, mask, fixed, kcache), finals, self.bridge.forward(finals)

    def forward(
        self,
        batch: Seq2SeqBatch,
        *,
        decoder_inputs: np.ndarray | None = None,
        decoder_masks: DecoderMasks | None = None,
    ) -> Seq2SeqOutput:
        """Teacher-forced run over batch.tgt_in (scheduled sampling in training mode if configured).

        ``decoder_inputs`` (T, B) replaces the fed tokens (and switches sampling off): pass a previous
        output's ``decoder_inputs`` to hold scheduled sampling's samples fixed; ``decoder_masks`` likewise
        holds the regularisers' masks fixed."""
        c = self.cfg
        batch = self.check_batch(batch)
        dec = self.decoder
        T, B = batch.tgt_in.shape
        if decoder_inputs is not None:
            decoder_inputs = self._check_ids(
                "Seq2Seq.forward", "decoder_inputs", decoder_inputs, 2, c.tgt_vocab_size + batch.n_oov
            )
            if decoder_inputs.shape != (T, B):
                raise ValueError(
                    f"Seq2Seq.forward: decoder_inputs must have shape ({T}, {B}), got {decoder_inputs.shape}"
                )
        (M, keys, mask, fixed, kcache), finals, states = self.encode(batch.src, batch.src_lengths, batch.word_lengths)
        S = M.shape[1]
        if decoder_masks is not None and not isinstance(decoder_masks, DecoderMasks):
            raise TypeError(
                f"Seq2Seq.forward: decoder_masks must be None or a previous output's decoder_masks (DecoderMasks), "
                f"got {type(decoder_masks).__name__}"
            )
        masks = None
        if self.training:
            masks = decoder_masks if decoder_masks is not None else dec.draw_masks(T, B)
        need_cache = is_grad_enabled()
        P = dec.resolved_params()
        V = c.tgt_vocab_size
        fed = batch.tgt_in.copy() if decoder_inputs is None else decoder_inputs.copy()
        p_sample = self.sampling_probability
        sampling = self.training and p_sample > 0 and decoder_inputs is None
        logits = np.empty((T, B, V), dtype=self.dtype)
        attn = np.zeros((T, B, S), dtype=self.dtype) if c.attention != "none" else None
        pgen = np.empty((T, B), dtype=self.dtype) if c.copy else None
        covs = np.zeros((T, B, S), dtype=self.dtype) if c.coverage else None
        cov = np.zeros((B, S), dtype=self.dtype) if c.coverage else None
        feed = np.zeros((B, dec.H), dtype=self.dtype)
        caches = []
        for t in range(T):
            if sampling and t > 0:  # scheduled sampling: feed a sample of the previous step's distribution
                fed[t] = self._scheduled_sample(fed[t], logits[t - 1], pgen, attn, t, batch, p_sample)
            tokens = np.where(fed[t] >= V, c.unk_id, fed[t])  # a copied id enters as <unk>
            mem = (M, keys, mask, cov, fixed, batch.src_ext)
            z, a, pg, feed_new, states, cache = dec.step_forward(P, tokens, feed, states, mem, masks, t, need_cache)
            logits[t] = z
            if a is not None:
                attn[t] = a
            if pg is not None:
                pgen[t] = pg
            if cov is not None:
                covs[t] = cov
                cov = cov + a
            feed = feed_new
            caches.append(cache)
        out = Seq2SeqOutput(logits, attn, pgen, covs, fed, masks)
        self._cache = (batch, out, caches, (M, keys, mask, fixed, kcache), finals) if need_cache else None
        return out

    def _scheduled_sample(self, fed_t, z_prev, pgen, attn, t, batch, p_sample):
        """Each row's input at step t: y_{t-1} or, with probability p_sample, a draw from P_{t-1}."""
        rng = self.decoder.rng
        take = rng.random(len(fed_t)) < p_sample
        if not take.any():
            return fed_t
        prev = self._distribution(
            z_prev,
            None if pgen is None else pgen[t - 1],
            None if attn is None else attn[t - 1],
            batch.src_ext,
            batch.n_oov,
        )  # (B, V [+ n_oov])
        u = rng.random((len(fed_t), 1)) * prev.sum(axis=1, keepdims=True)
        drawn = np.minimum((np.cumsum(prev, axis=1) < u).sum(axis=1), prev.shape[1] - 1)  # inverse CDF
        return np.where(take, drawn, fed_t)

    @staticmethod
    def _distribution(z, pg, a, src_ext, n_oov):
        """P over the (extended) vocabulary for one step's z (B, V)."""
        if pg is None:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return ptr.mixture(z, pg, a, src_ext.T, n_oov)

    def log_probs(self, out: Seq2SeqOutput, batch: Seq2SeqBatch) -> np.ndarray:
        """log P_t over the (extended) vocabulary, (T, B, V [+ n_oov])."""
        if out.p_gen is None:
            z = out.logits - out.logits.max(axis=-1, keepdims=True)
            return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        with np.errstate(divide="ignore"):
            return np.log(ptr.mixture(out.logits, out.p_gen, out.attention, batch.src_ext.T, batch.n_oov))

    # -- loss and backward ------------------------------------------------------------------------
    def loss(self, out: Seq2SeqOutput, batch: Seq2SeqBatch) -> Seq2SeqLoss:
        """Masked negative log-likelihood (+ weighted coverage loss), summed over target tokens."""
        c = self.cfg
        batch = self.check_batch(batch, "Seq2Seq.loss")
        T, B = batch.tgt_out.shape
        real = np.arange(T)[:, None] < batch.tgt_lengths[None, :]  # (T, B)
        w = real.astype(self.dtype)
        if c.copy:
            nll, dz, dpg, da = ptr.loss_and_grads(
                out.logits, out.p_gen, out.attention, batch.src_ext.T, batch.tgt_out, w
            )
        else:
            nll, dz = cross_entropy(out.logits, batch.tgt_out, mask=real, reduction="sum", ignore_index=None)
            dpg = da = None
        cov_loss, dcov = 0.0, None
        if c.coverage and c.coverage_loss_weight:
            lam = c.coverage_loss_weight
            cov_loss = att.coverage_loss(out.attention, out.coverage, w[..., None])
            da_c, dcov = att.coverage_loss_backward(out.attention, out.coverage, w[..., None] * lam)
            da = da_c if da is None else da + da_c
        total = nll + c.coverage_loss_weight * cov_loss
        return Seq2SeqLoss(total, nll, cov_loss, int(real.sum()), dz, dpg, da, dcov)

    def backward(self, loss: Seq2SeqLoss, scale: float = 1.0) -> None:
        """Backpropagate ``scale * loss.loss`` through the last forward; adds into ``grads``."""
        if self._cache is None:
            raise RuntimeError("Seq2Seq.backward: no cache; run forward with gradients enabled first")
        batch, out, caches, (M, keys, mask, fixed, kcache), finals = self._cache
        c, dec = self.cfg, self.decoder
        T, B = out.decoder_inputs.shape
        P, G = dec.resolved_params(), dec.resolved_grads()

        def scaled(x):
            return None if x is None else x * scale

        dz, dpg, da, dcov = (scaled(x) for x in (loss.dlogits, loss.dp_gen, loss.dattention, loss.dcoverage))
        acc = {"M": M, "keys": keys, "dkeys": None if keys is None else np.zeros_like(keys)}
        S = M.shape[1]
        acc["a"] = np.zeros((T, B, S), dtype=self.dtype)
        acc["dc"] = np.zeros((T, B, M.shape[2]), dtype=self.dtype)
        acc["de"] = np.zeros((T, B, dec.E), dtype=self.dtype)
        acc["dfixed"] = None if fixed is None else np.zeros_like(fixed)
        dfeed = np.zeros((B, dec.H), dtype=self.dtype) if c.input_feeding else None
        dstates = [None] * dec.L
        gcov = np.zeros_like(M[:, :, 0]) if c.coverage else None
        for t in reversed(range(T)):
            dfeed, dstates, gcov = dec.step_backward(
                P,
                caches[t],
                dz[t],
                None if dpg is None else dpg[t],
                None if da is None else da[t],
                dfeed,
                dstates,
                gcov,
                None if dcov is None else dcov[t],
                G,
                acc,
                out.decoder_masks,
                t,
            )
        # the embedding rows of all steps at once (repeated ids add up)
        fed = np.where(out.decoder_inputs >= c.tgt_vocab_size, c.unk_id, out.decoder_inputs)
        emb = G["embedding.weight"]
        embedding_backward(acc["de"], (fed, emb.shape, None), out=emb)
        df_h, df_c = self.bridge.backward(dstates)
        if acc["dfixed"] is not None:
            df_h = df_h + acc["dfixed"]
        dM = None
        if c.attention != "none":
            # dM_b = sum_t a_t,b dc_t,b^T: (B, S, T) @ (B, T, Dm)
            dM = np.matmul(acc["a"].transpose(1, 2, 0), acc["dc"].transpose(1, 0, 2))
            dM += att.keys_backward(c.attention, P["attention"], kcache, acc["dkeys"], G["attention"])
        self.encoder.backward(dM, (df_h, df_c))

    # -- the Trainer's protocol -------------------------------------------------------------------
    def initial_state(self, batch: Seq2SeqBatch) -> None:
        return None

    def train_step(self, batch: Seq2SeqBatch, state: None = None) -> StepResult:
        """Forward and backward of the mean loss per target token; returns the summed loss and the token count.

        A batch of no examples (a data-parallel rank's empty shard of a short
        batch) runs the forward pass only, for its random draws (every rank's
        generators advance alike), and contributes nothing: zero loss, count 0.
        """
        if batch.tgt_out.shape[1] == 0:
            with no_grad():
                self.forward(batch)
            return StepResult(0.0, 0, None)
        out = self.forward(batch)
        res = self.loss(out, batch)
        self.backward(res, 1.0 / max(res.count, 1))
        return StepResult(res.loss, res.count, None)

    def eval_step(self, batch: Seq2SeqBatch, state: None = None) -> StepResult:
        if batch.tgt_out.shape[1] == 0:  # an empty shard
            return StepResult(0.0, 0, None)
        with no_grad():
            res = self.loss(self.forward(batch), batch)
        return StepResult(res.loss, res.count, None)
