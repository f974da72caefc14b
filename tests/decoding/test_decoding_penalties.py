"""beam_search's min_len and GNMT's coverage penalty (Wu et al. 2016)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.decoding import beam_search

TABLE = np.log(
    np.array(
        [
            [0.1, 0.5, 0.4],  # after token 0
            [0.4, 0.3, 0.3],  # after token 1
            [0.3, 0.3, 0.4],  # after token 2 (the stop id)
        ]
    )
)
ATTN = np.array([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])  # attention paid when token k is fed


class ToyAttentive:
    """State: (K, 1) last token and (K, 3) coverage; the attention of a step depends on the token fed."""

    def initial_state(self, prompt):
        return {"cov": np.zeros((1, 3))}

    def step(self, state, tokens):
        return TABLE[tokens], {"cov": state["cov"] + ATTN[tokens]}

    def coverage(self, state):
        return state["cov"]


def _replay(tokens, prompt_last=0):
    cov, lp, prev = np.zeros(3), 0.0, prompt_last
    for tok in tokens:
        cov = cov + ATTN[prev]
        lp += TABLE[prev, tok]
        prev = tok
    return lp, cov


@pytest.mark.parametrize("beta, alpha", [(0.0, 0.0), (0.4, 0.0), (1.0, 0.6)])
def test_coverage_penalty_scores_as_defined(beta, alpha):
    hyps = beam_search(
        ToyAttentive(), [0], 5, beam_size=3, stop_ids=[2], coverage_penalty=beta, length_penalty=alpha, return_all=True
    )
    assert hyps
    for h in hyps:
        lp, cov = _replay(h.tokens.tolist())
        assert abs(lp - h.logprob) < 1e-12
        expect = lp / ((5 + len(h.tokens)) / 6) ** alpha + beta * np.sum(np.log(np.maximum(np.minimum(cov, 1), 1e-12)))
        assert abs(h.score - expect) < 1e-12
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_coverage_penalty_changes_the_choice():
    plain = beam_search(ToyAttentive(), [0], 5, beam_size=3, stop_ids=[2])
    covered = beam_search(ToyAttentive(), [0], 5, beam_size=3, stop_ids=[2], coverage_penalty=5.0)
    assert plain.tolist() != covered.tolist()


def test_min_len_keeps_stop_out():
    out = beam_search(ToyAttentive(), [0], 6, beam_size=2, stop_ids=[2], min_len=4)
    assert 2 not in out[:4].tolist()


def test_coverage_penalty_needs_coverage():
    class NoCoverage(ToyAttentive):
        coverage = None

    with pytest.raises(TypeError, match="beam_search: coverage_penalty needs a model with coverage"):
        beam_search(NoCoverage(), [0], 3, stop_ids=[2], coverage_penalty=1.0)
    with pytest.raises(ValueError, match="beam_search: coverage_penalty must be"):
        beam_search(ToyAttentive(), [0], 3, coverage_penalty=-1.0)
    with pytest.raises(ValueError, match="beam_search: min_len must be >= 0"):
        beam_search(ToyAttentive(), [0], 3, min_len=-1)
