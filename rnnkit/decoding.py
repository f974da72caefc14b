"""Decoding from any autoregressive model: sampling, greedy search and beam search.

The protocol
------------
A model is anything with two methods (K hypotheses decoded side by side, V the
vocabulary size):

    state              = model.initial_state(prompt_ids)       # prompt_ids (P,) int, P may be 0
    logprobs, state    = model.step(state, token_ids)          # token_ids (K,) -> logprobs (K, V)

``step`` feeds one token per hypothesis and returns the log-probabilities of
the token that follows it. ``initial_state`` receives the prompt *without its
last token* and returns the state of a batch of one; the decoder then feeds the
last prompt token through ``step``, so the first distribution is computed like
every later one (the prompt therefore needs at least one token: a ``<bos>`` or
``<eos>`` id for an unconditional start). The state is batched along its first
axis: beam search reorders and duplicates hypotheses with

    state = select(state, indices)                            # indices (K',) int into the K rows

where ``select`` is ``model.select`` if the model has one, and otherwise
:func:`select_state`, which indexes the first axis of a NumPy array, of every
array in a tuple, list or dict (recursively), calls ``state.select(indices)``
on an object that has it, and passes ``None`` through. :class:`StepModel` turns
three plain functions into a model.

The algorithms (scores are natural-log probabilities of the generated tokens)
-----------------------------------------------------------------------------
``sample``: at each step the log-probabilities l (V,) become

    l' = l / temperature                           (temperature > 0; -> 0 approaches greedy)
    top-k:  keep the k largest l'                  (ties: lower id first)
    top-p:  sort p = softmax(l') descending, keep token i while sum_{j before i} p_j < top_p,
            i.e. the smallest prefix whose mass reaches top_p (always at least one token)

and a token is drawn from softmax of what is kept (the filters run in this
order, after the temperature, as in common practice). ``greedy`` takes the
argmax (ties: lower id). Both stop after emitting a token of ``stop_ids``
(which is included in the output) or after ``max_len`` tokens.

``beam_search`` keeps ``beam_size`` live hypotheses. Each step scores every
one-token extension by its summed log-probability, drops the extensions that
``no_repeat_ngram_size`` forbids (a token that would complete an n-gram already
present in prompt + hypothesis), moves the extensions ending in a stop id that
rank among the step's ``beam_size`` best to the finished pool (a stop ranked
lower is dropped, as in fairseq and Hugging Face) and keeps the ``beam_size``
best of the others as the live hypotheses. Finished (and,
at ``max_len``, unfinished) hypotheses are ranked with GNMT's length penalty
(Wu et al. 2016):

    score(Y) = log P(Y) / lp(Y),     lp(Y) = ((5 + |Y|) / 6) ** length_penalty

with |Y| the number of generated tokens (the stop token included). The default
``length_penalty=0`` ranks by log P(Y) itself; larger values favour longer
outputs. With ``coverage_penalty`` beta > 0 the model must also have
``coverage(state) -> (K, S)``, the attention each hypothesis has paid to each
source position so far, and GNMT's coverage penalty is added:

    score(Y) = log P(Y) / lp(Y) + beta * sum_i log(min(sum_j p_ij, 1))

(sum_j p_ij floored at 1e-12, so a position never attended costs a finite
27.6 * beta). ``min_len`` keeps stop ids out of the first ``min_len``
generated tokens. The search stops early once ``beam_size`` hypotheses have finished and
no live one can still beat the worst of them: log P only falls as a hypothesis
grows, lp(Y) <= lp(max_len) and the coverage penalty is <= 0, so
log P / lp(max_len) bounds every live hypothesis' final score. With ``beam_size=1`` and ``length_penalty=0`` beam
search returns the greedy output.

Example
-------
A bigram model: the state remembers nothing (an empty (K, 0) array), the
distribution depends only on the token fed in.

>>> import numpy as np
>>> from rnnkit.decoding import StepModel, greedy, beam_search, sample
>>> table = np.log(np.array([[0.1, 0.5, 0.4],      # after token 0
...                          [0.4, 0.3, 0.3],      # after token 1
...                          [0.05, 0.05, 0.9]]))  # after token 2
>>> model = StepModel(initial_state=lambda prompt: np.zeros((1, 0)),
...                   step=lambda state, tokens: (table[tokens], state))
>>> greedy(model, [0], max_len=4).tolist()                    # P = 0.5 * 0.4 * 0.5 * 0.4 = 0.04
[1, 0, 1, 0]
>>> beam_search(model, [0], max_len=4, beam_size=2).tolist()  # P = 0.4 * 0.9 ** 3 = 0.29
[2, 2, 2, 2]
>>> sample(model, [0], max_len=4, seed=0).shape
(4,)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_positive_int
from rnnkit.protocols import DecodingModel, StepModel, select_state

__all__ = [
    "DecodingModel",
    "StepModel",
    "Hypothesis",
    "select_state",
    "filter_logprobs",
    "sample",
    "greedy",
    "beam_search",
]


@dataclass(frozen=True)
class Hypothesis:
    """One beam-search output: ``tokens`` (generated ids, stop token included), the summed
    ``logprob``, the length-penalised ``score`` it was ranked by, and whether it ``finished``
    on a stop id (False: cut at ``max_len``)."""

    tokens: np.ndarray
    logprob: float
    score: float
    finished: bool


# -- validation --------------------------------------------------------------------------------
def _check_model(where: str, model) -> Callable:
    for name in ("initial_state", "step"):
        if not callable(getattr(model, name, None)):
            raise TypeError(
                f"{where}: model must have a callable {name}() (the decoding protocol), got {type(model).__name__}"
            )
    sel = getattr(model, "select", None)
    return sel if callable(sel) else select_state


def _check_prompt(where: str, prompt_ids) -> np.ndarray:
    arr = np.asarray(prompt_ids)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size > 0):
        raise TypeError(
            f"{where}: prompt_ids must be a 1-D sequence of int ids, got shape {arr.shape} dtype {arr.dtype}"
        )
    if arr.size == 0:
        raise ValueError(
            f"{where}: prompt_ids must hold at least one id (a start token such as <bos> or <eos>), got an empty prompt"
        )
    if (arr < 0).any():
        raise ValueError(f"{where}: prompt_ids must be >= 0, got {int(arr.min())}")
    return arr.astype(np.int64)


def _check_stop_ids(where: str, stop_ids) -> frozenset:
    if isinstance(stop_ids, (str, bytes)) or not isinstance(stop_ids, Iterable):
        raise TypeError(f"{where}: stop_ids must be a sequence of int ids, got {type(stop_ids).__name__} {stop_ids!r}")
    out = set()
    for s in stop_ids:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"{where}: stop_ids must hold int ids >= 0, got {s!r}")
        out.add(int(s))
    return frozenset(out)


def _check_temperature(where: str, temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"{where}: temperature must be a float > 0, got {type(temperature).__name__} {temperature!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{where}: temperature must be a finite float > 0, got {temperature}")
    return float(temperature)


def _check_top_k(where: str, top_k) -> int | None:
    return None if top_k is None else check_positive_int(where, "top_k", top_k)


def _check_top_p(where: str, top_p) -> float | None:
    if top_p is None:
        return None
    if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real):
        raise TypeError(f"{where}: top_p must be a float in (0, 1], got {type(top_p).__name__} {top_p!r}")
    if not (0 < top_p <= 1):
        raise ValueError(f"{where}: top_p must be in (0, 1], got {top_p}")
    return float(top_p)


def _as_generator(where: str, seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"{where}: seed must be None, an int >= 0 or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_logprobs(where: str, logprobs, K: int, V: int | None) -> np.ndarray:
    lp = np.asarray(logprobs)
    if lp.ndim != 2 or lp.shape[0] != K or (V is not None and lp.shape[1] != V) or lp.dtype.kind != "f":
        want = f"({K}, {'V' if V is None else V})"
        raise ValueError(f"{where}: model.step must return float logprobs of shape {want}, got {lp.shape} {lp.dtype}")
    if np.isnan(lp).any() or (lp == np.inf).any():
        raise ValueError(f"{where}: model.step returned NaN or +inf log-probabilities")
    return lp.astype(np.float64, copy=False)


def _first_step(where: str, model, prompt: np.ndarray):
    state = model.initial_state(prompt[:-1])
    logprobs, state = model.step(state, prompt[-1:])
    lp = _check_logprobs(where, logprobs, 1, None)
    V = lp.shape[1]
    if prompt.max() >= V:
        raise ValueError(f"{where}: prompt_ids must be < V={V} (the model's vocabulary), got {int(prompt.max())}")
    return lp, state, V


# -- filtering ---------------------------------------------------------------------------------
def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)  # finite: every row keeps at least one finite entry
    z = x - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def filter_logprobs(logprobs: ArrayLike, *, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Top-k then top-p filtering of log-probabilities (K, V) or (V,); returns renormalised
    log-probabilities with -inf outside the kept set (see the module docstring)."""
    where = "filter_logprobs"
    top_k, top_p = _check_top_k(where, top_k), _check_top_p(where, top_p)
    lp = np.asarray(logprobs, dtype=np.float64)
    if lp.ndim not in (1, 2) or lp.shape[-1] == 0:
        raise ValueError(f"{where}: logprobs must have shape (V,) or (K, V) with V >= 1, got {lp.shape}")
    if np.isnan(lp).any() or (lp == np.inf).any() or not np.isfinite(lp).any(axis=-1).all():
        raise ValueError(f"{where}: logprobs must be finite or -inf, with a finite entry in every row")
    out = _filter(lp.reshape(-1, lp.shape[-1]), top_k, top_p)
    return out.reshape(lp.shape)


def _filter(lp: np.ndarray, top_k: int | None, top_p: float | None) -> np.ndarray:
    lp = _log_softmax(lp)  # (K, V)
    K, V = lp.shape
    if top_k is None and (top_p is None or top_p >= 1.0):
        return lp
    order = np.argsort(-lp, axis=1, kind="stable")  # (K, V) best first, ties by lower id
    keep_sorted = np.ones((K, V), dtype=bool)
    if top_k is not None and top_k < V:
        keep_sorted[:, top_k:] = False
    if top_p is not None and top_p < 1.0:
        p_sorted = np.exp(np.take_along_axis(lp, order, axis=1))
        mass_before = np.cumsum(p_sorted, axis=1) - p_sorted
        keep_sorted &= mass_before < top_p
    keep = np.zeros((K, V), dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return _log_softmax(np.where(keep, lp, -np.inf))


# -- sampling and greedy -----------------------------------------------------------------------
def sample(
    model: DecodingModel,
    prompt_ids: ArrayLike,
    max_len: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | np.random.Generator | None = None,
    stop_ids: Iterable[int] = (),
) -> np.ndarray:
    """Draw up to ``max_len`` tokens after ``prompt_ids``; returns the generated ids (n,), n <= max_len."""
    where = "sample"
    _check_model(where, model)
    prompt = _check_prompt(where, prompt_ids)
    max_len = check_positive_int(where, "max_len", max_len)
    temperature = _check_temperature(where, temperature)
    top_k, top_p = _check_top_k(where, top_k), _check_top_p(where, top_p)
    rng = _as_generator(where, seed)
    stops = _check_stop_ids(where, stop_ids)
    lp, state, V = _first_step(where, model, prompt)
    out: list[int] = []
    for t in range(max_len):
        if not np.isfinite(lp[0]).any():
            raise ValueError(f"{where}: model.step gave every token probability 0 at step {t}")
        logits = _filter(lp / temperature, top_k, top_p)[0]  # (V,)
        cdf = np.cumsum(np.exp(logits))
        # side="right" lands on a token of positive probability; the clip guards rounding at the top
        tok = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), V - 1)
        out.append(tok)
        if tok in stops or t == max_len - 1:
            break
        logprobs, state = model.step(state, np.array([tok], dtype=np.int64))
        lp = _check_logprobs(where, logprobs, 1, V)
    return np.array(out, dtype=np.int64)


def greedy(model: DecodingModel, prompt_ids: ArrayLike, max_len: int, *, stop_ids: Iterable[int] = ()) -> np.ndarray:
    """Take the most probable token at each step (ties: lower id); returns the generated ids (n,)."""
    where = "greedy"
    _check_model(where, model)
    prompt = _check_prompt(where, prompt_ids)
    max_len = check_positive_int(where, "max_len", max_len)
    stops = _check_stop_ids(where, stop_ids)
    lp, state, V = _first_step(where, model, prompt)
    out: list[int] = []
    for t in range(max_len):
        if not np.isfinite(lp[0]).any():
            raise ValueError(f"{where}: model.step gave every token probability 0 at step {t}")
        tok = int(np.argmax(lp[0]))
        out.append(tok)
        if tok in stops or t == max_len - 1:
            break
        logprobs, state = model.step(state, np.array([tok], dtype=np.int64))
        lp = _check_logprobs(where, logprobs, 1, V)
    return np.array(out, dtype=np.int64)


# -- beam search -------------------------------------------------------------------------------
def _length_penalty(n: int, alpha: float) -> float:
    return ((5.0 + n) / 6.0) ** alpha


def _banned_tokens(seq: list[int], n: int) -> set[int]:
    """Tokens that would complete an n-gram already in ``seq``."""
    if n == 0 or len(seq) < n - 1:
        return set()
    if n == 1:
        return set(seq)
    tail = tuple(seq[len(seq) - n + 1 :])
    return {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == tail}


def beam_search(
    model: DecodingModel,
    prompt_ids: ArrayLike,
    max_len: int,
    *,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    no_repeat_ngram_size: int = 0,
    stop_ids: Iterable[int] = (),
    return_all: bool = False,
    min_len: int = 0,
    coverage_penalty: float = 0.0,
) -> np.ndarray | list[Hypothesis]:
    """Beam search; returns the best hypothesis' generated ids (n,), or with ``return_all`` the
    (up to) ``beam_size`` best :class:`Hypothesis` objects, best first."""
    where = "beam_search"
    select = _check_model(where, model)
    prompt = _check_prompt(where, prompt_ids)
    max_len = check_positive_int(where, "max_len", max_len)
    beam_size = check_positive_int(where, "beam_size", beam_size)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real):
        raise TypeError(
            f"{where}: length_penalty must be a float >= 0, got {type(length_penalty).__name__} {length_penalty!r}"
        )
    if not (math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"{where}: length_penalty must be a finite float >= 0, got {length_penalty}")
    alpha = float(length_penalty)
    for name, val in (("coverage_penalty", coverage_penalty),):
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not (math.isfinite(val) and val >= 0):
            raise ValueError(f"{where}: {name} must be a finite float >= 0, got {val!r}")
    beta = float(coverage_penalty)
    coverage = getattr(model, "coverage", None)
    if beta and not callable(coverage):
        raise TypeError(
            f"{where}: coverage_penalty needs a model with coverage(state) -> (K, S), got {type(model).__name__}"
        )
    min_len = check_positive_int(where, "min_len", min_len, minimum=0)
    ngram = check_positive_int(where, "no_repeat_ngram_size", no_repeat_ngram_size, minimum=0)
    stops = _check_stop_ids(where, stop_ids)
    if not isinstance(return_all, bool):
        raise TypeError(f"{where}: return_all must be a bool, got {type(return_all).__name__}")

    lp, state, V = _first_step(where, model, prompt)
    prefix = prompt.tolist()
    live_tokens: list[list[int]] = [[]]
    live_scores = np.zeros(1)  # (K,) summed log-probabilities
    finished: list[Hypothesis] = []
    lp_max = _length_penalty(max_len, alpha)

    def add_finished(tokens, logprob, done, cov=None):
        score = logprob / _length_penalty(len(tokens), alpha)
        if beta:  # GNMT's coverage penalty
            score += beta * float(np.sum(np.log(np.maximum(np.minimum(cov, 1.0), 1e-12))))
        finished.append(Hypothesis(np.array(tokens, dtype=np.int64), float(logprob), float(score), done))
        finished.sort(key=lambda h: -h.score)  # stable: earlier (better-ranked) candidates win ties
        del finished[beam_size:]

    for t in range(max_len):
        cand = live_scores[:, None] + lp  # (K, V)
        cov = np.asarray(coverage(state), dtype=np.float64) if beta else None  # (K, S) incl. this step
        if t < min_len and stops:
            cand[:, sorted(stops)] = -np.inf
        if ngram:
            for k, toks in enumerate(live_tokens):
                banned = _banned_tokens(prefix + toks, ngram)
                if banned:
                    cand[k, list(banned)] = -np.inf
        K = cand.shape[0]
        n_take = min(K * V, beam_size + K * len(stops))  # enough to leave beam_size non-stop candidates
        flat = cand.ravel()
        top = np.argsort(-flat, kind="stable")[:n_take]
        beam_idx, next_tok, next_scores = [], [], []
        for rank, f in enumerate(top):
            s = flat[f]
            if s == -np.inf:
                break
            k, tok = divmod(int(f), V)
            if tok in stops:
                if rank < beam_size:  # a stop counts only among this step's beam_size best extensions
                    add_finished(live_tokens[k] + [tok], s, True, None if cov is None else cov[k])
            elif len(beam_idx) < beam_size:
                beam_idx.append(k)
                next_tok.append(tok)
                next_scores.append(s)
        live_tokens = [live_tokens[k] + [tok] for k, tok in zip(beam_idx, next_tok)]
        live_scores = np.array(next_scores)
        if not live_tokens:
            break
        if t == max_len - 1:
            for toks, s, k in zip(live_tokens, live_scores, beam_idx):
                add_finished(toks, s, False, None if cov is None else cov[k])
            break
        if len(finished) == beam_size and live_scores.max() / lp_max <= finished[-1].score:
            break
        idx = np.array(beam_idx, dtype=np.int64)
        logprobs, state = model.step(select(state, idx), np.array(next_tok, dtype=np.int64))
        lp = _check_logprobs(where, logprobs, len(idx), V)

    if not finished:
        raise ValueError(f"{where}: every continuation has probability 0 (or is blocked by no_repeat_ngram_size)")
    return finished if return_all else finished[0].tokens
