"""The window NNLM's fused output path: bit-identical to the reference path (loss, every gradient, eval)."""

import numpy as np
import pytest

from rnnkit.lm.nnlm import NNLM, NNLMConfig


def model(**kw):
    cfg = dict(vocab_size=31, context=3, embedding_size=4, hidden_size=7, seed=2)
    cfg.update(kw)
    return NNLM(NNLMConfig(**cfg))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_fused_and_reference_paths_are_bit_identical(dtype, direct, dropout):
    fused, ref = model(dtype=dtype, direct=direct, dropout=dropout), model(dtype=dtype, direct=direct, dropout=dropout)
    ref.output_path = "reference"
    rng = np.random.default_rng(0)
    for B in (17, 17, 5):  # the second step reuses the logits buffer, the third needs a new one
        ctx, y = rng.integers(0, 31, size=(B, 3)), rng.integers(0, 31, size=B)
        fused.zero_grad()
        ref.zero_grad()
        r1, r2 = fused.train_step((ctx, y), None), ref.train_step((ctx, y), None)
        assert r1.loss_sum == r2.loss_sum and r1.count == r2.count == B
        for k in ref.grads:
            np.testing.assert_array_equal(fused.grads[k], ref.grads[k], err_msg=k)
        assert fused.eval_step((ctx, y), None).loss_sum == ref.eval_step((ctx, y), None).loss_sum
    assert fused._logits_buffer.shape == (5, 31)


def test_fused_path_names_bad_targets():
    lm = model()
    ctx = np.zeros((4, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"NNLM.train_step: targets must be in \[0, 31\), got 31 at index 2"):
        lm.train_step((ctx, np.array([0, 1, 31, 2])), None)
    with pytest.raises(ValueError, match=r"NNLM.eval_step: targets must be int token ids of shape \(4,\), got shape"):
        lm.eval_step((ctx, np.array([0, 1])), None)


def test_output_path_is_checked():
    lm = model()
    with pytest.raises(ValueError, match="NNLM: output_path must be one of 'fused', 'reference', got 'fast'"):
        lm.output_path = "fast"
    assert lm.output_path == "fused"
