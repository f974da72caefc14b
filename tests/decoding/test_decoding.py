"""Decoding: greedy, beam search and sampling on toy models whose answers are known or enumerable."""

import collections
import doctest
import itertools

import numpy as np
import pytest

import rnnkit.decoding as decoding_module
from rnnkit.decoding import (
    Hypothesis,
    StepModel,
    beam_search,
    filter_logprobs,
    greedy,
    sample,
    select_state,
)


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


class TrigramToy:
    """log P(next | the two previous tokens) from a fixed random table (V, V, V); state (K, 2)."""

    def __init__(self, V=6, seed=0, scale=2.0):
        self.table = log_softmax(np.random.default_rng(seed).normal(scale=scale, size=(V, V, V)))
        self.V = V
        self.calls = 0

    def initial_state(self, prompt_ids):
        last = np.concatenate([[0, 0], np.asarray(prompt_ids, dtype=np.int64)])[-2:]
        return last[None, :]  # (1, 2)

    def step(self, state, token_ids):
        self.calls += 1
        new = np.stack([state[:, 1], token_ids], axis=1)  # (K, 2)
        return self.table[new[:, 0], new[:, 1]], new

    def logprob_of(self, prompt, tokens):
        seq = [0, 0] + list(prompt) + list(tokens)
        start = 2 + len(prompt)
        return sum(self.table[seq[i - 2], seq[i - 1], seq[i]] for i in range(start, len(seq)))


class TupleStateToy(TrigramToy):
    """The same model with its state as a tuple of two (K,) arrays (the default select handles it)."""

    def initial_state(self, prompt_ids):
        s = super().initial_state(prompt_ids)
        return (s[:, 0], s[:, 1])

    def step(self, state, token_ids):
        lp, new = super().step(np.stack(state, axis=1), token_ids)
        return lp, (new[:, 0], new[:, 1])


class History:
    """A state object that knows how to reorder itself."""

    def __init__(self, rows):
        self.rows = rows

    def select(self, indices):
        return History([self.rows[i] for i in indices])


class ObjectStateToy(TrigramToy):
    def initial_state(self, prompt_ids):
        return History([list(super().initial_state(prompt_ids)[0])])

    def step(self, state, token_ids):
        arr = np.array([r[-2:] for r in state.rows])
        lp, _ = super().step(arr, token_ids)
        return lp, History([r + [int(t)] for r, t in zip(state.rows, token_ids)])


def table_model(rows):
    """A bigram model: row i of ``rows`` is P(. | previous token i)."""
    with np.errstate(divide="ignore"):  # zero probabilities become -inf log-probabilities
        table = np.log(np.asarray(rows, dtype=np.float64))
    return StepModel(lambda prompt: np.zeros((1, 0)), lambda state, tok: (table[tok], state))


def brute_force_best(model, prompt, max_len, V, stop, alpha):
    """The best hypothesis under GNMT scoring among every finished or max_len-long sequence."""
    best = (-np.inf, None)
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if any(t in stop for t in seq[:-1]):
                continue
            if seq[-1] not in stop and n < max_len:
                continue
            score = model.logprob_of(prompt, seq) / ((5 + n) / 6) ** alpha
            if score > best[0]:
                best = (score, list(seq))
    return best


# -- greedy ----------------------------------------------------------------------------------------
def test_greedy_follows_the_argmax_path():
    model = TrigramToy(seed=1)
    out = greedy(model, [3, 1], max_len=10)
    seq = [0, 0, 3, 1]
    for tok in out:
        assert tok == int(np.argmax(model.table[seq[-2], seq[-1]]))
        seq.append(int(tok))
    assert out.shape == (10,) and out.dtype == np.int64


def test_greedy_stops_after_a_stop_token_and_includes_it():
    model = table_model([[0.1, 0.2, 0.7], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1]])  # 0 -> 2 -> 1 -> 0 -> ...
    assert greedy(model, [0], max_len=10).tolist() == [2, 1, 0, 2, 1, 0, 2, 1, 0, 2]
    assert greedy(model, [0], max_len=10, stop_ids=[1]).tolist() == [2, 1]


# -- beam search -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_beam_size_one_equals_greedy(seed):
    model = TrigramToy(V=5, seed=seed)
    for stop in ([], [4], [2, 3]):
        g = greedy(model, [1], max_len=12, stop_ids=stop)
        b = beam_search(model, [1], max_len=12, beam_size=1, stop_ids=stop)
        assert b.tolist() == g.tolist(), (seed, stop)


def test_beam_finds_the_better_sequence_greedy_misses():
    model = table_model([[0.1, 0.5, 0.4], [0.4, 0.3, 0.3], [0.05, 0.05, 0.9]])
    assert greedy(model, [0], max_len=4).tolist() == [1, 0, 1, 0]  # P = 0.04
    assert beam_search(model, [0], max_len=4, beam_size=2).tolist() == [2, 2, 2, 2]  # P = 0.2916


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_is_exact_against_enumeration(alpha, seed):
    V, max_len, stop = 3, 4, {2}
    model = TrigramToy(V=V, seed=seed, scale=1.0)
    expected_score, expected = brute_force_best(model, [1], max_len, V, stop, alpha)
    hyps = beam_search(model, [1], max_len, beam_size=V**max_len, stop_ids=[2], length_penalty=alpha, return_all=True)
    assert hyps[0].tokens.tolist() == expected
    assert hyps[0].score == pytest.approx(expected_score, rel=1e-12)


def test_return_all_hypotheses_are_sorted_and_scored_as_documented():
    model = TrigramToy(V=5, seed=3)
    hyps = beam_search(model, [2], max_len=6, beam_size=4, stop_ids=[0], length_penalty=0.7, return_all=True)
    assert 1 <= len(hyps) <= 4 and all(isinstance(h, Hypothesis) for h in hyps)
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    for h in hyps:
        assert h.logprob == pytest.approx(model.logprob_of([2], h.tokens.tolist()), rel=1e-12)
        assert h.score == pytest.approx(h.logprob / ((5 + len(h.tokens)) / 6) ** 0.7, rel=1e-12)
        assert h.finished == (h.tokens[-1] == 0)
        assert h.finished or len(h.tokens) == 6


def test_length_penalty_can_prefer_the_longer_hypothesis():
    # after the prompt: stop (2) with 0.4, or 1 then a sure stop (0.35 * 1.0 ... = 0.35 with 2 tokens)
    model = table_model([[0.0, 0.35, 0.4 + 0.25], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]])
    short = beam_search(model, [0], max_len=5, beam_size=3, stop_ids=[2])
    assert short.tolist() == [2]  # log 0.65 > log 0.35
    model = table_model([[0.0, 0.45, 0.55], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]])
    assert beam_search(model, [0], max_len=5, beam_size=3, stop_ids=[2]).tolist() == [2]
    # GNMT with alpha = 2: log(0.55) / 1 = -0.598 against log(0.45) / (7/6)^2 = -0.587
    longer = beam_search(model, [0], max_len=5, beam_size=3, stop_ids=[2], length_penalty=2.0)
    assert longer.tolist() == [1, 2]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_size_blocks_repeats(n):
    # a model that loves the cycle 1 2 1 2 ...: token after 1 is 2, after 2 is 1, with small leaks
    V = 6
    rows = np.full((V, V), 0.02)
    for a, b in [(0, 1), (1, 2), (2, 1), (3, 1), (4, 1), (5, 1)]:
        rows[a, b] = 1.0
    rows /= rows.sum(axis=1, keepdims=True)
    model = table_model(rows)
    plain = beam_search(model, [0], max_len=5, beam_size=3)
    assert plain.tolist() == [1, 2, 1, 2, 1]
    out = beam_search(model, [0], max_len=5, beam_size=3, no_repeat_ngram_size=n).tolist()
    seq = [0] + out
    grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
    assert len(grams) == len(set(grams)), (n, out)
    assert len(out) == 5


def test_select_state_handles_arrays_tuples_dicts_objects():
    idx = np.array([2, 0, 0])
    a = np.arange(6).reshape(3, 2)
    Pair = collections.namedtuple("Pair", "h c")
    assert select_state(a, idx).tolist() == [[4, 5], [0, 1], [0, 1]]
    t = select_state((a, a[:, 0]), idx)
    assert isinstance(t, tuple) and t[1].tolist() == [4, 0, 0]
    nt = select_state(Pair(a, a), idx)
    assert isinstance(nt, Pair) and nt.c.tolist() == [[4, 5], [0, 1], [0, 1]]
    d = select_state({"h": [a, a]}, idx)
    assert d["h"][0].tolist() == [[4, 5], [0, 1], [0, 1]]
    assert select_state(None, idx) is None
    assert select_state(History(["x", "y", "z"]), idx).rows == ["z", "x", "x"]
    with pytest.raises(TypeError, match=r"select_state: state must be .* got int"):
        select_state(3, idx)


@pytest.mark.parametrize("cls", [TupleStateToy, ObjectStateToy])
def test_every_state_kind_decodes_the_same(cls):
    ref, other = TrigramToy(V=5, seed=7), cls(V=5, seed=7)
    kw = dict(max_len=8, beam_size=3, stop_ids=[4], return_all=True)
    a, b = beam_search(ref, [1, 2], **kw), beam_search(other, [1, 2], **kw)
    assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
    assert sample(ref, [1], 8, seed=5).tolist() == sample(other, [1], 8, seed=5).tolist()


def test_model_select_method_is_used():
    selected = []

    def select(state, idx):
        selected.append(np.asarray(idx).tolist())
        return state[idx]

    toy = TrigramToy(V=4, seed=2)
    model = StepModel(toy.initial_state, toy.step, select)
    beam_search(model, [1], max_len=4, beam_size=2)
    assert selected and all(len(i) == 2 for i in selected[1:])


# -- sampling --------------------------------------------------------------------------------------
def test_top_k_one_sampling_equals_greedy():
    model = TrigramToy(V=8, seed=4)
    g = greedy(model, [3], max_len=15)
    for seed in range(5):
        assert sample(model, [3], 15, top_k=1, seed=seed).tolist() == g.tolist()


def test_top_p_keeps_the_smallest_set_reaching_p():
    lp = np.log(np.array([0.05, 0.5, 0.15, 0.3]))  # sorted: 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05)
    kept = lambda p: set(np.flatnonzero(np.isfinite(filter_logprobs(lp, top_p=p))).tolist())  # noqa: E731
    assert kept(0.2) == {1} and kept(0.49) == {1}
    assert kept(0.51) == {1, 3} and kept(0.79) == {1, 3}
    assert kept(0.81) == {1, 3, 2} and kept(0.96) == {0, 1, 2, 3} and kept(1.0) == {0, 1, 2, 3}
    out = filter_logprobs(lp, top_p=0.7)
    np.testing.assert_allclose(np.exp(out[[1, 3]]), [0.5 / 0.8, 0.3 / 0.8], rtol=1e-12)
    assert np.exp(filter_logprobs(lp, top_k=2, top_p=0.99)).sum() == pytest.approx(1.0)
    assert set(np.flatnonzero(np.isfinite(filter_logprobs(lp, top_k=3)))) == {1, 2, 3}
    # ties: the lower id wins the last place
    tie = np.log(np.array([0.25, 0.25, 0.25, 0.25]))
    assert np.flatnonzero(np.isfinite(filter_logprobs(tie, top_k=2))).tolist() == [0, 1]
    assert np.flatnonzero(np.isfinite(filter_logprobs(tie, top_p=0.3))).tolist() == [0, 1]


def test_top_p_sampling_draws_only_from_the_kept_set():
    p = np.array([0.05, 0.5, 0.15, 0.3])
    model = table_model(np.tile(p, (4, 1)))
    draws = np.concatenate([sample(model, [0], 50, top_p=0.75, seed=s) for s in range(20)])
    assert set(draws.tolist()) == {1, 3}
    freq = np.mean(draws == 1)
    assert abs(freq - 0.5 / 0.8) < 0.05


def test_sampling_matches_the_distribution():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    model = table_model(np.tile(p, (4, 1)))
    draws = sample(model, [0], 20000, seed=0)
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, p, atol=0.015)


def test_same_seed_same_sample_different_seed_different():
    V = 50
    model = table_model(np.full((V, V), 1.0 / V))
    a = sample(model, [0], 30, seed=11)
    assert a.tolist() == sample(model, [0], 30, seed=11).tolist()
    assert a.tolist() != sample(model, [0], 30, seed=12).tolist()
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    assert sample(model, [0], 30, seed=rng1).tolist() == sample(model, [0], 30, seed=rng2).tolist()


def test_low_temperature_approaches_greedy():
    model = TrigramToy(V=8, seed=9, scale=1.0)
    g = greedy(model, [2], max_len=20).tolist()
    assert any(sample(model, [2], 20, seed=s).tolist() != g for s in range(5))
    for seed in range(5):
        assert sample(model, [2], 20, temperature=1e-3, seed=seed).tolist() == g


def test_sample_stops_at_stop_ids():
    model = table_model([[0.5, 0.5], [0.5, 0.5]])
    for seed in range(10):
        out = sample(model, [0], 100, seed=seed, stop_ids=[1]).tolist()
        assert out[-1] == 1 and 1 not in out[:-1]


# -- errors ------------------------------------------------------------------------------------------
def test_errors_name_the_argument_and_value():
    model = TrigramToy(V=4)
    uniform = StepModel(lambda p: np.zeros((1, 0)), lambda s, t: (np.full((len(t), 4), -np.log(4)), s))
    cases = [
        (lambda: sample(model, [1], 5, temperature=0), ValueError, r"temperature must be a finite float > 0, got 0"),
        (lambda: sample(model, [1], 5, temperature=-1.0), ValueError, r"temperature .* got -1.0"),
        (lambda: sample(model, [1], 5, top_p=0.0), ValueError, r"top_p must be in \(0, 1\], got 0.0"),
        (lambda: sample(model, [1], 5, top_p=1.5), ValueError, r"top_p must be in \(0, 1\], got 1.5"),
        (lambda: sample(model, [1], 5, top_k=0), ValueError, r"top_k must be >= 1, got 0"),
        (lambda: sample(model, [1], 5, top_k=2.5), TypeError, r"top_k must be an int, got float 2.5"),
        (
            lambda: sample(model, [1], 5, seed="x"),
            TypeError,
            r"seed must be None, an int >= 0 or a numpy.random.Generator, got 'x'",
        ),
        (lambda: greedy(model, [1], 0), ValueError, r"greedy: max_len must be >= 1, got 0"),
        (lambda: greedy(model, [], 3), ValueError, r"prompt_ids must hold at least one id"),
        (lambda: greedy(model, [1.5], 3), TypeError, r"prompt_ids must be a 1-D sequence of int ids"),
        (lambda: greedy(uniform, [7], 3), ValueError, r"prompt_ids must be < V=4 .* got 7"),
        (lambda: greedy(model, [1], 3, stop_ids=5), TypeError, r"stop_ids must be a sequence of int ids, got int 5"),
        (lambda: greedy(model, [1], 3, stop_ids=[-1]), ValueError, r"stop_ids must hold int ids >= 0, got -1"),
        (lambda: beam_search(model, [1], 3, beam_size=0), ValueError, r"beam_size must be >= 1, got 0"),
        (
            lambda: beam_search(model, [1], 3, length_penalty=-0.5),
            ValueError,
            r"length_penalty must be a finite float >= 0, got -0.5",
        ),
        (
            lambda: beam_search(model, [1], 3, no_repeat_ngram_size=-1),
            ValueError,
            r"no_repeat_ngram_size must be >= 0, got -1",
        ),
        (lambda: beam_search(model, [1], 3, return_all=1), TypeError, r"return_all must be a bool, got int"),
        (lambda: greedy(object(), [1], 3), TypeError, r"model must have a callable initial_state\(\)"),
        (lambda: filter_logprobs(np.zeros(3), top_p=2), ValueError, r"top_p must be in \(0, 1\], got 2"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()


def test_a_model_returning_the_wrong_shape_is_reported():
    bad = StepModel(lambda p: np.zeros((1, 0)), lambda s, t: (np.zeros((len(t) + 1, 4)), s))
    with pytest.raises(ValueError, match=r"model.step must return float logprobs of shape \(1, V\), got \(2, 4\)"):
        greedy(bad, [0], 3)
    nan = StepModel(lambda p: np.zeros((1, 0)), lambda s, t: (np.full((len(t), 4), np.nan), s))
    with pytest.raises(ValueError, match=r"NaN or \+inf"):
        sample(nan, [0], 3, seed=0)


def test_docstring_examples_run():
    result = doctest.testmod(decoding_module)
    assert result.attempted > 0 and result.failed == 0
