"""The window NNLM's fused output path: bit-identical to the reference path (loss, every gradient, eval)."""

import numpy as np
import pytest

from rnnkit import _kernels
from rnnkit.lm.nnlm import NNLM, NNLMConfig

from helpers import assert_close


def model(**kw):
    cfg = dict(vocab_size=31, context=3, embedding_size=4, hidden_size=7, seed=2)
    cfg.update(kw)
    return NNLM(NNLMConfig(**cfg))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_fused_and_reference_paths_are_bit_identical(dtype, direct, dropout):
    """The fused NumPy path (float64 on every backend, float32 on the NumPy loops)."""
    with _kernels.use("numpy" if dtype == "float32" else _kernels.backend()):
        _compare_paths(dtype, direct, dropout)


def _compare_paths(dtype, direct, dropout):
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


@pytest.mark.parametrize("direct", [True, False])
def test_the_compiled_float32_rows_agree_with_the_float64_reference(direct):
    if not _kernels.available("c"):
        pytest.skip(_kernels.why_unavailable("c"))
    ours, ref = model(dtype="float32", direct=direct), model(dtype="float64", direct=direct)
    ref.load_state_dict({k: v.astype(np.float64) for k, v in ours.state_dict().items()})
    ref.output_path = "reference"
    rng = np.random.default_rng(1)
    ctx, y = rng.integers(0, 31, size=(17, 3)), rng.integers(0, 31, size=17)
    with _kernels.use("c"):
        r1 = ours.train_step((ctx, y), None)
        e1 = ours.eval_step((ctx, y), None)
    r2 = ref.train_step((ctx, y), None)
    assert abs(r1.loss_sum - r2.loss_sum) < 1e-5 * abs(r2.loss_sum)
    assert abs(e1.loss_sum - r2.loss_sum) < 1e-5 * abs(r2.loss_sum)
    for k in ref.grads:
        assert_close(k, ours.grads[k], ref.grads[k], 1e-5)


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
