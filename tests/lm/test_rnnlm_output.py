"""The RNN LM's output layer: fused and reference paths bit-identical; the adaptive softmax against PyTorch."""

import math

import numpy as np
import pytest
import torch

from rnnkit import _kernels
from rnnkit.batches import StreamBatches
from rnnkit.decoding import beam_search, greedy, sample
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig

from helpers import assert_close


def small(**kw):
    cfg = dict(vocab_size=13, embedding_size=6, hidden_size=6, num_layers=2, seed=1, dtype="float64")
    cfg.update(kw)
    return RNNLM(RNNLMConfig(**cfg))


def windows(V=13, T=5, B=3, seed=6):
    """A first window (loss from step 0) and a later one whose loss starts after an overlap."""
    data = np.random.default_rng(seed).integers(0, V, size=(3 * T + 1, B))
    src = StreamBatches(data, T)
    first = src.batch(0, 0)
    later = first.__class__(x=first.x, y=first.y, loss_from=2, carry=3)  # loss on y[2:], state after x[:3]
    return first, later


@pytest.mark.parametrize("objective", ["token_mean", "batch_mean", "sum"])
@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_and_reference_paths_are_bit_identical(objective, tie, dropout, dtype):
    """The fused NumPy path (float64 on every backend, float32 on the NumPy loops; the compiled float32
    rows are compared to a tolerance below)."""
    kw = dict(objective=objective, tie_weights=tie, dropout=dropout, dtype=dtype, cell="lstm")
    fused, ref = small(**kw), small(**kw)
    ref.output_path = "reference"
    with _kernels.use("numpy" if dtype == "float32" else _kernels.backend()):
        _compare_paths(fused, ref)


def _compare_paths(fused, ref):
    for window in windows():
        state = None
        for _ in range(2):  # the second step reuses the fused path's logits buffer
            fused.zero_grad()
            ref.zero_grad()
            r1, r2 = fused.train_step(window, state), ref.train_step(window, state)
            assert r1.loss_sum == r2.loss_sum and r1.count == r2.count
            for k in ref.grads:
                np.testing.assert_array_equal(fused.grads[k], ref.grads[k], err_msg=k)
            for a, b in zip(np.atleast_1d(r1.state), np.atleast_1d(r2.state)):
                np.testing.assert_array_equal(a, b)
        e1, e2 = fused.eval_step(window, None), ref.eval_step(window, None)
        assert e1.loss_sum == e2.loss_sum and e1.count == e2.count


@pytest.mark.parametrize("objective", ["token_mean", "sum"])
@pytest.mark.parametrize("tie", [False, True])
def test_the_compiled_float32_output_rows_agree_with_the_float64_reference(objective, tie):
    """float32 on the compiled kernels (softmax rows, dW and db summed into the gradients) against the
    same weights in float64 on the reference path: loss and every gradient to float32 rounding."""
    if not _kernels.available("c"):
        pytest.skip(_kernels.why_unavailable("c"))
    kw = dict(objective=objective, tie_weights=tie, cell="lstm", vocab_size=300)
    ours, ref = small(dtype="float32", **kw), small(dtype="float64", **kw)
    ref.load_state_dict({k: v.astype(np.float64) for k, v in ours.state_dict().items()})
    ref.output_path = "reference"
    for window in windows(V=300):
        ours.zero_grad()
        ref.zero_grad()
        with _kernels.use("c"):
            r1 = ours.train_step(window, None)
        r2 = ref.train_step(window, None)
        assert r1.count == r2.count
        assert abs(r1.loss_sum - r2.loss_sum) < 1e-5 * max(1.0, abs(r2.loss_sum))
        for k in ref.grads:
            assert_close(k, ours.grads[k], ref.grads[k], 1e-5)


class TorchLM(torch.nn.Module):
    def __init__(self, V, E, H, L, tie):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = torch.nn.GRU(E, H, L)
        self.decoder = torch.nn.Linear(H, V)
        if tie:
            self.decoder.weight = self.embedding.weight

    def forward(self, x):
        out, _ = self.rnn(self.embedding(x))
        return self.decoder(out)


@pytest.mark.parametrize("tie", [False, True])
def test_a_fused_training_step_equals_the_same_model_in_torch(tie):
    ours = small(cell="gru", tie_weights=tie, objective="token_mean")
    theirs = TorchLM(13, 6, 6, 2, tie).double()
    state = {k: torch.from_numpy(v) for k, v in ours.state_dict().items()}
    if tie:
        state["decoder.weight"] = state["embedding.weight"]
    theirs.load_state_dict(state)
    _, later = windows(seed=13)
    res = ours.train_step(later, None)
    logits = theirs(torch.from_numpy(later.x))[later.loss_from :]
    y = torch.from_numpy(later.y[later.loss_from :])
    tsum = torch.nn.functional.cross_entropy(logits.reshape(-1, 13), y.reshape(-1), reduction="sum")
    (tsum / y.numel()).backward()
    assert res.count == y.numel() and abs(res.loss_sum - tsum.item()) < 1e-10
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=0, atol=1e-10, err_msg=name)


def test_the_fused_path_holds_one_logits_buffer_across_steps():
    lm = small()
    first, later = windows()
    lm.train_step(first, None)
    buf = lm._logits_buffer
    assert buf.shape == (first.x.size, 13)
    lm.train_step(later, None)
    assert lm._logits_buffer is buf


# -- adaptive softmax ------------------------------------------------------------------------------------
class TorchAdaptiveLM(torch.nn.Module):
    def __init__(self, V, E, H, L, cutoffs, div_value):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = torch.nn.LSTM(E, H, L)
        self.decoder = torch.nn.AdaptiveLogSoftmaxWithLoss(H, V, list(cutoffs), div_value=div_value, head_bias=True)

    def forward(self, x, y):
        out, _ = self.rnn(self.embedding(x))
        return self.decoder(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def log_prob(self, x):
        out, _ = self.rnn(self.embedding(x))
        return self.decoder.log_prob(out.reshape(-1, out.shape[-1])).reshape(x.shape[0], x.shape[1], -1)


def adaptive_pair(**kw):
    ours = small(cell="lstm", adaptive_cutoffs=(4, 9), div_value=2.0, **kw)
    theirs = TorchAdaptiveLM(13, 6, 6, 2, (4, 9), 2.0).double()
    assert set(theirs.state_dict()) == set(ours.params)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("objective", ["token_mean", "sum"])
def test_adaptive_lm_loss_log_probs_and_all_gradients_equal_torch(objective):
    ours, theirs = adaptive_pair(objective=objective)
    window, _ = windows(seed=11)
    res = ours.train_step(window, None)
    out = theirs(torch.from_numpy(window.x), torch.from_numpy(window.y))
    tsum = -out.output.sum()
    (tsum / res.count if objective == "token_mean" else tsum).backward()
    assert abs(res.loss_sum - tsum.item()) < 1e-10
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=0, atol=1e-10, err_msg=name)
    ours.eval()
    logp, _ = ours.forward(window.x)
    np.testing.assert_allclose(logp, theirs.log_prob(torch.from_numpy(window.x)).detach().numpy(), rtol=0, atol=1e-12)
    assert ours.eval_step(window, None).loss_sum == pytest.approx(res.loss_sum, rel=1e-12)


def test_adaptive_lm_counts_only_the_targets_after_loss_from():
    ours, theirs = adaptive_pair(objective="sum")
    _, later = windows(seed=12)
    res = ours.train_step(later, None)
    out = theirs(torch.from_numpy(later.x), torch.from_numpy(later.y))
    keep = np.zeros(later.y.shape, dtype=bool)
    keep[later.loss_from :] = True
    tsum = -out.output[torch.from_numpy(keep.reshape(-1))].sum()
    tsum.backward()
    assert res.count == keep.sum() and abs(res.loss_sum - tsum.item()) < 1e-10
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=0, atol=1e-10, err_msg=name)


def test_adaptive_lm_decodes_and_learns():
    lm = small(cell="gru", adaptive_cutoffs=(3,), div_value=2.0, dtype="float32", objective="token_mean")
    sm = lm.as_step_model()
    s1, s2 = sample(sm, [1, 2], 15, seed=3), sample(sm, [1, 2], 15, seed=3)
    assert np.array_equal(s1, s2) and s1.shape == (15,) and s1.max() < 13
    assert len(beam_search(sm, [1, 2], 6, beam_size=3)) == 6 and greedy(sm, [1, 2], 6).shape == (6,)
    # a short repeating stream is learnt: the loss falls well below log V
    import rnnkit

    lm.train()
    data = np.tile(np.arange(13), 12)[:, None].repeat(2, axis=1)
    src = StreamBatches(data, 8)
    opt = rnnkit.Adam(lm.params, lm.grads, lr=0.02)
    losses = []
    for epoch in range(15):
        total = 0.0
        for i in range(len(src)):
            lm.zero_grad()
            res = lm.train_step(src.batch(epoch, i), None)
            opt.step()
            total += res.loss_sum / res.count
        losses.append(total / len(src))
    assert losses[0] > 0.8 * math.log(13) and losses[-1] < 0.2 * math.log(13)


def test_an_adaptive_lm_checkpoint_resumes(tmp_path):
    from rnnkit.checkpoint import load_checkpoint, save_checkpoint

    lm = small(adaptive_cutoffs=(4, 9), div_value=2.0)
    save_checkpoint(tmp_path, model_state=lm.state_dict(), config=lm.config())
    ckpt = load_checkpoint(tmp_path, expected_config=lm.config())  # what Trainer's resume checks
    again = RNNLM.from_config(ckpt.config)
    ckpt.load_into(again)
    x = np.random.default_rng(0).integers(0, 13, size=(4, 2))
    np.testing.assert_array_equal(again.forward(x)[0], lm.forward(x)[0])


def test_adaptive_config_is_validated_and_round_trips():
    lm = small(adaptive_cutoffs=[4, 9], div_value=2.0)
    assert lm.cfg.adaptive_cutoffs == (4, 9)
    again = RNNLM.from_config(lm.config())
    assert again.config() == lm.config() and set(again.params) == set(lm.params)
    with pytest.raises(ValueError, match="RNNLMConfig: tie_weights needs the full softmax, got adaptive_cutoffs"):
        RNNLMConfig(vocab_size=13, embedding_size=6, hidden_size=6, tie_weights=True, adaptive_cutoffs=(4,))
    with pytest.raises(
        ValueError, match=r"RNNLMConfig: adaptive_cutoffs must be strictly increasing ints in \[1, 12\]"
    ):
        RNNLMConfig(vocab_size=13, adaptive_cutoffs=(4, 13))
    with pytest.raises(ValueError, match="RNNLMConfig: div_value must leave every adaptive tail at least 1 wide"):
        RNNLMConfig(vocab_size=13, hidden_size=6, adaptive_cutoffs=(4, 9), div_value=3.0)
    with pytest.raises(RuntimeError, match="RNNLM.backward: an adaptive-softmax model has no logits"):
        lm.backward(np.zeros((2, 2, 13)))


def test_output_path_is_checked():
    lm = small()
    with pytest.raises(ValueError, match="RNNLM: output_path must be one of 'fused', 'reference', got 'fast'"):
        lm.output_path = "fast"
    assert lm.output_path == "fused"
