"""Decoding a trained model: greedy (batched over sources), beam search and sampling through rnnkit.decoding.

:class:`Seq2SeqStepModel` puts an encoded batch of sources into the step-model
protocol of :mod:`rnnkit.decoding`: ``initial_state(prompt_ids)``,
``step(state, token_ids) -> (logprobs (K, V [+ n_oov]), state)``,
``select(state, indices)`` and ``coverage(state) -> (K, S)`` (for GNMT's
coverage penalty). The state is a dict of arrays batched along axis 0:

    h, c       (K, L, H)   decoder states (c for LSTMs only)
    M, keys    (K, S, Dm), (K, S, A)   the encoder's outputs and the attention keys
    mask       (K, S)      real source positions
    fixed      (K, Dm)     the fixed context ("none" attention)
    cov        (K, S)      coverage vector (attention summed over the steps before the last)
    attn       (K, S)      the last step's attention
    feed       (K, H)      the input-feeding vector ht_{t-1}
    src_ext    (K, S)      extended source ids (copy)

With copy, ``step`` returns log-probabilities over the batch's extended
vocabulary and a copied id (>= V) is fed back as ``unk_id``.

Example
-------
>>> import numpy as np
>>> from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqBatch, translate
>>> model = Seq2Seq(Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=9, cell="gru", embedding_size=4, hidden_size=4))
>>> batch = Seq2SeqBatch.from_sources([[4, 5, 6], [7, 8]])
>>> out = translate(model, batch, method="beam", beam_size=3, max_len=5)
>>> [o.attention.shape[1] for o in out]           # (generated tokens, this source's length)
[3, 2]
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit import decoding
from rnnkit._validate import check_choice, check_positive_int, check_real
from rnnkit.grad_mode import no_grad
from rnnkit.seq2seq import copy as ptr
from rnnkit.seq2seq.model import Seq2Seq, Seq2SeqBatch

METHODS = ("greedy", "beam", "sample")


@dataclass
class Translation:
    """One decoded output: ``tokens`` (n,) (stop id included when reached; extended ids when copying), the
    model's ``logprob`` of them, and the ``attention`` (n, S_b) of each generated token over the source."""

    tokens: np.ndarray
    logprob: float
    attention: np.ndarray | None


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Seq2SeqStepModel:
    """rnnkit.decoding's protocol over the sources of ``batch`` (evaluation mode, no caches kept).

    ``initial_state`` returns the rows of the sources in ``rows`` (all by default); ``for_source(b)`` is the
    same model restricted to source b, as the single-prompt functions of rnnkit.decoding expect."""

    def __init__(self, model: Seq2Seq, batch: Seq2SeqBatch) -> None:
        model.eval()
        batch = model.check_batch(batch, "Seq2SeqStepModel")
        self.model, self.dec, self.batch = model, model.decoder, batch
        with no_grad():
            (M, keys, mask, fixed, _), _, states = model.encode(batch.src, batch.src_lengths, batch.word_lengths)
        B, S, _ = M.shape
        lstm = self.dec.has_cell_state
        st = {"h": np.stack([s[0] if lstm else s for s in states], axis=1)}  # (B, L, H)
        if lstm:
            st["c"] = np.stack([s[1] for s in states], axis=1)
        st.update(
            M=M,
            keys=keys if keys is not None else np.zeros((B, 0)),
            mask=mask,
            fixed=fixed if fixed is not None else np.zeros((B, 0)),
            cov=np.zeros((B, S), dtype=M.dtype),
            attn=np.zeros((B, S), dtype=M.dtype),
            feed=np.zeros((B, self.dec.H), dtype=M.dtype),
            src_ext=batch.src_ext.T if batch.src_ext is not None else np.zeros((B, 0), dtype=np.int64),
        )
        self._encoded = st
        self._params = self.dec.resolved_params()  # live arrays (never rebound), looked up once
        self.rows = np.arange(B)
        self.V = model.cfg.tgt_vocab_size
        self.n_oov = batch.n_oov

    def for_source(self, b: int) -> Seq2SeqStepModel:
        other = _copy.copy(self)
        other.rows = np.array([b])
        return other

    def initial_state(self, prompt_ids: ArrayLike) -> dict:
        state = decoding.select_state(self._encoded, self.rows)
        prompt = np.asarray(prompt_ids, dtype=np.int64)
        for tok in prompt:  # a forced prefix (rnnkit.decoding passes the prompt without its last token)
            _, state = self.step(state, np.full(len(self.rows), tok, dtype=np.int64))
        return state

    def select(self, state: dict, indices: ArrayLike) -> dict:
        return decoding.select_state(state, indices)

    def coverage(self, state: dict) -> np.ndarray:
        """Attention summed over every step so far, the last included: (K, S)."""
        return state["cov"] + state["attn"]

    def step(self, state: dict, token_ids: ArrayLike) -> tuple[np.ndarray, dict]:
        c, dec = self.model.cfg, self.dec
        tokens = np.asarray(token_ids, dtype=np.int64)
        tokens = np.where(tokens >= self.V, c.unk_id, tokens)
        L = dec.L
        if dec.has_cell_state:
            layers = [(state["h"][:, k], state["c"][:, k]) for k in range(L)]
        else:
            layers = [state["h"][:, k] for k in range(L)]
        cov = state["cov"] + state["attn"]
        mem = (
            state["M"],
            state["keys"],
            state["mask"],
            cov if c.coverage else None,
            state["fixed"],
            None,
        )
        with no_grad():
            z, a, pg, ht, new, _ = dec.step_forward(self._params, tokens, state["feed"], layers, mem, None, 0, False)
        if pg is None:
            logp = _log_softmax(z.astype(np.float64))
        else:
            with np.errstate(divide="ignore"):
                logp = np.log(ptr.mixture(z, pg, a, state["src_ext"], self.n_oov).astype(np.float64))
        out = dict(state)
        out["h"] = np.stack([s[0] if dec.has_cell_state else s for s in new], axis=1)
        if dec.has_cell_state:
            out["c"] = np.stack([s[1] for s in new], axis=1)
        out["cov"] = cov
        out["attn"] = a if a is not None else np.zeros_like(cov)
        out["feed"] = ht
        return logp, out


def force(step_model: Seq2SeqStepModel, tokens: Sequence[int]) -> tuple[float, np.ndarray | None]:
    """Score ``tokens`` under a single-source step model: (summed log-probability, attention (n, S))."""
    c = step_model.model.cfg
    state = step_model.initial_state([])
    prev, total, attns = c.bos_id, 0.0, []
    for tok in tokens:
        lp, state = step_model.step(state, np.array([prev]))
        total += float(lp[0, tok])
        if c.attention != "none":
            attns.append(state["attn"][0])
        prev = int(tok)
    return total, (np.stack(attns) if attns else None)


def force_batched(step_model: Seq2SeqStepModel, outputs: Sequence[Sequence[int]]) -> list[Translation]:
    """Score ``outputs[b]`` (token ids) under source b, all sources side by side: one ``step`` per time
    step. Returns a :class:`Translation` per source (its attention cut to the source's length)."""
    c = step_model.model.cfg
    B = len(step_model.rows)
    n = max([len(o) for o in outputs] + [1])
    toks = np.full((n, B), c.pad_id, dtype=np.int64)
    for b, o in enumerate(outputs):
        toks[: len(o), b] = o
    state = step_model.initial_state([])
    prev = np.full(B, c.bos_id, dtype=np.int64)
    total, attns = np.zeros(B), []
    for t in range(n):
        lp, state = step_model.step(state, prev)
        real = np.array([t < len(o) for o in outputs])
        total += np.where(real, lp[np.arange(B), toks[t]], 0.0)
        attns.append(state["attn"])
        prev = toks[t]
    lengths = step_model.batch.src_lengths[step_model.rows]
    return [
        Translation(
            np.asarray(o, dtype=np.int64),
            float(total[b]),
            None if c.attention == "none" else np.stack(attns)[: len(o), b, : lengths[b]],
        )
        for b, o in enumerate(outputs)
    ]


class _SourceBeam:
    """The beam of one source in a batched beam search: rnnkit.decoding.beam_search's bookkeeping."""

    def __init__(self, beam_size: int, alpha: float, beta: float, ngram: int, prefix: list[int]) -> None:
        self.beam_size, self.alpha, self.beta, self.ngram, self.prefix = beam_size, alpha, beta, ngram, prefix
        self.live_tokens: list = [[]]
        self.live_scores = np.zeros(1)
        self.finished: list = []

    def add_finished(self, tokens: list[int], logprob: float, done: bool, cov: np.ndarray | None) -> None:
        score = logprob / decoding._length_penalty(len(tokens), self.alpha)
        if self.beta:  # GNMT's coverage penalty, as rnnkit.decoding.beam_search
            score += self.beta * float(np.sum(np.log(np.maximum(np.minimum(cov, 1.0), 1e-12))))
        self.finished.append(decoding.Hypothesis(np.array(tokens, dtype=np.int64), float(logprob), float(score), done))
        self.finished.sort(key=lambda h: -h.score)
        del self.finished[self.beam_size :]

    def advance(
        self,
        lp: np.ndarray,
        cov: np.ndarray | None,
        t: int,
        max_len: int,
        min_len: int,
        stops: frozenset[int],
        lp_max: float,
    ) -> tuple[list[int], list[int]]:
        """One step from this source's rows' log-probabilities lp (K, V). Returns (row indices into lp,
        next tokens) of the hypotheses that go on; empty when this source is done."""
        cand = self.live_scores[:, None] + lp  # (K, V)
        if t < min_len:
            cand[:, sorted(stops)] = -np.inf
        if self.ngram:
            for k, toks in enumerate(self.live_tokens):
                banned = decoding._banned_tokens(self.prefix + toks, self.ngram)
                if banned:
                    cand[k, list(banned)] = -np.inf
        K, V = cand.shape
        n_take = min(K * V, self.beam_size + K * len(stops))
        flat = cand.ravel()
        top = np.argsort(-flat, kind="stable")[:n_take]
        beam_idx, next_tok, next_scores = [], [], []
        for rank, f in enumerate(top):
            sc = flat[f]
            if sc == -np.inf:
                break
            k, tok = divmod(int(f), V)
            if tok in stops:
                if rank < self.beam_size:
                    self.add_finished(self.live_tokens[k] + [tok], sc, True, None if cov is None else cov[k])
            elif len(beam_idx) < self.beam_size:
                beam_idx.append(k)
                next_tok.append(tok)
                next_scores.append(sc)
        self.live_tokens = [self.live_tokens[k] + [tok] for k, tok in zip(beam_idx, next_tok)]
        self.live_scores = np.array(next_scores)
        if not self.live_tokens:
            return [], []
        if t == max_len - 1:
            for toks, sc, k in zip(self.live_tokens, self.live_scores, beam_idx):
                self.add_finished(toks, sc, False, None if cov is None else cov[k])
            return [], []
        if len(self.finished) == self.beam_size and self.live_scores.max() / lp_max <= self.finished[-1].score:
            return [], []
        return beam_idx, next_tok


def beam_search_batched(
    step_model: Seq2SeqStepModel,
    max_len: int,
    *,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    coverage_penalty: float = 0.0,
    no_repeat_ngram_size: int = 0,
    min_len: int = 0,
) -> list:
    """rnnkit.decoding.beam_search for every source of ``step_model`` at once: one ``step`` per time step
    runs the live hypotheses of all sources together. Same rules, options and results as calling
    ``beam_search(step_model.for_source(b), [bos], ..., stop_ids=[eos])`` per source; returns each
    source's best :class:`rnnkit.decoding.Hypothesis`."""
    where = "beam_search_batched"
    max_len = check_positive_int(where, "max_len", max_len)
    beam_size = check_positive_int(where, "beam_size", beam_size)
    ngram = check_positive_int(where, "no_repeat_ngram_size", no_repeat_ngram_size, minimum=0)
    min_len = check_positive_int(where, "min_len", min_len, minimum=0)
    alpha = check_real(where, "length_penalty", length_penalty, low=0.0)
    beta = check_real(where, "coverage_penalty", coverage_penalty, low=0.0)
    c = step_model.model.cfg
    stops = frozenset([c.eos_id])
    B = len(step_model.rows)
    beams = [_SourceBeam(beam_size, alpha, beta, ngram, [c.bos_id]) for _ in range(B)]
    state = step_model.initial_state([])
    lp, state = step_model.step(state, np.full(B, c.bos_id, dtype=np.int64))
    rows = [np.array([b]) for b in range(B)]  # each source's rows of the current state
    active = list(range(B))
    lp_max = decoding._length_penalty(max_len, alpha)
    for t in range(max_len):
        cov = step_model.coverage(state).astype(np.float64) if beta else None
        keep, tokens, still = [], [], []
        for b in active:
            r = rows[b]
            idx, toks = beams[b].advance(lp[r], None if cov is None else cov[r], t, max_len, min_len, stops, lp_max)
            if idx:
                rows[b] = np.arange(len(keep), len(keep) + len(idx))
                keep.extend(r[idx].tolist())
                tokens.extend(toks)
                still.append(b)
        active = still
        if not active:
            break
        lp, state = step_model.step(
            step_model.select(state, np.array(keep, dtype=np.int64)), np.array(tokens, dtype=np.int64)
        )
    out = []
    for b, beam in enumerate(beams):
        if not beam.finished:
            raise ValueError(f"{where}: every continuation of source {b} has probability 0 (or is blocked)")
        out.append(beam.finished[0])
    return out


def translate(
    model: Seq2Seq,
    batch: Seq2SeqBatch,
    *,
    method: str = "greedy",
    max_len: int = 100,
    min_len: int = 0,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    coverage_penalty: float = 0.0,
    no_repeat_ngram_size: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> list[Translation]:
    """Decode every source of ``batch`` (a :class:`Seq2SeqBatch`; its targets are not read).

    ``greedy`` and ``beam`` run all sources side by side (one ``step`` per time step for the whole
    batch; beam search by :func:`beam_search_batched`, rnnkit.decoding.beam_search's rules);
    ``sample`` calls :func:`rnnkit.decoding.sample` source by source. Puts the model in evaluation mode."""
    where = "translate"
    check_choice(where, "method", method, METHODS)
    max_len = check_positive_int(where, "max_len", max_len)
    min_len = check_positive_int(where, "min_len", min_len, minimum=0)
    c = model.cfg
    sm = Seq2SeqStepModel(model, batch)
    src_len = sm.batch.src_lengths
    B = len(src_len)
    results = []
    if method == "greedy":
        state = sm.initial_state([])
        tokens = np.full(B, c.bos_id, dtype=np.int64)
        done = np.zeros(B, dtype=bool)
        outs, lps, attns = [], np.zeros(B), []
        for t in range(max_len):
            lp, state = sm.step(state, tokens)
            if t < min_len:
                lp[:, c.eos_id] = -np.inf
            tokens = np.argmax(lp, axis=1)
            lps += np.where(done, 0.0, lp[np.arange(B), tokens])
            outs.append(np.where(done, -1, tokens))
            attns.append(state["attn"].copy())
            done |= tokens == c.eos_id
            if done.all():
                break
        outs = np.stack(outs)  # (n, B), -1 after a row's stop
        for b in range(B):
            n = int(np.sum(outs[:, b] >= 0))
            att = np.stack(attns)[:n, b, : src_len[b]] if c.attention != "none" else None
            results.append(Translation(outs[:n, b].copy(), float(lps[b]), att))
        return results
    if method == "beam":
        best = beam_search_batched(
            sm,
            max_len,
            beam_size=beam_size,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            min_len=min_len,
        )
        return force_batched(sm, [h.tokens for h in best])
    rng = decoding._as_generator(where, seed)
    drawn = [
        decoding.sample(
            sm.for_source(b),
            [c.bos_id],
            max_len,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=rng,
            stop_ids=[c.eos_id],
        )
        for b in range(B)
    ]
    return force_batched(sm, drawn)
