"""The RNN language model: parity with the same model in PyTorch, gradients, perplexity, decoding."""

import math

import numpy as np
import pytest
import torch

from rnnkit.decoding import beam_search, greedy, sample
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.losses import cross_entropy


def small(**kw):
    cfg = dict(vocab_size=13, embedding_size=6, hidden_size=6, num_layers=2, seed=1)
    cfg.update(kw)
    return RNNLM(RNNLMConfig(**cfg))


class TorchLM(torch.nn.Module):
    def __init__(self, cell, V, E, H, L, tie):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = getattr(torch.nn, cell.upper())(E, H, L)
        self.decoder = torch.nn.Linear(H, V)
        if tie:
            self.decoder.weight = self.embedding.weight

    def forward(self, x):
        out, _ = self.rnn(self.embedding(x))
        return self.decoder(out)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("tie", [False, True])
def test_logits_and_all_gradients_match_the_same_model_in_torch(cell, tie):
    ours = small(cell=cell, tie_weights=tie, dtype="float64")
    theirs = TorchLM(cell, 13, 6, 6, 2, tie).double()
    state = {k: torch.from_numpy(v) for k, v in ours.state_dict().items()}
    if tie:
        state["decoder.weight"] = state["embedding.weight"]
    theirs.load_state_dict(state)
    x = np.random.default_rng(0).integers(0, 13, size=(7, 3))
    y = np.random.default_rng(1).integers(0, 13, size=(7, 3))
    logits, _ = ours.forward(x)
    loss, dlogits = cross_entropy(logits, y, reduction="sum")
    ours.zero_grad()
    ours.backward(dlogits)
    tl = theirs(torch.from_numpy(x))
    tloss = torch.nn.functional.cross_entropy(tl.reshape(-1, 13), torch.from_numpy(y).reshape(-1), reduction="sum")
    tloss.backward()
    np.testing.assert_allclose(logits, tl.detach().numpy(), atol=1e-12)
    assert abs(loss - tloss.item()) < 1e-10
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), atol=1e-11, err_msg=name)


def test_tied_weights_gradients_by_finite_differences():
    lm = small(tie_weights=True, dtype="float64", num_layers=1, cell="gru")
    x = np.random.default_rng(2).integers(0, 13, size=(4, 2))
    y = np.random.default_rng(3).integers(0, 13, size=(4, 2))

    def loss():
        return cross_entropy(lm.forward(x)[0], y, reduction="sum")[0]

    lm.zero_grad()
    lm.backward(cross_entropy(lm.forward(x)[0], y, reduction="sum")[1])
    assert "decoder.weight" not in lm.params
    for name in ("embedding.weight", "decoder.bias", "rnn.weight_hh_l0"):
        assert_gradient_close(name, lm.grads[name], numerical_gradient(loss, lm.params[name]))


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary():
    lm = small()
    lm.params["decoder.weight"][...] = 0
    lm.params["decoder.bias"][...] = 0
    x = np.random.default_rng(4).integers(0, 13, size=(9, 4))
    loss, _ = cross_entropy(lm.forward(x)[0], x, reduction="mean")
    assert math.exp(loss) == pytest.approx(13, rel=1e-6)


def test_dropout_is_seeded_and_off_in_eval():
    x = np.random.default_rng(5).integers(0, 13, size=(5, 2))
    a, b = small(dropout=0.5, seed=3), small(dropout=0.5, seed=3)
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])
    assert not np.allclose(a.forward(x)[0], a.forward(x)[0])  # new masks each pass in training
    a.eval()
    np.testing.assert_array_equal(a.forward(x)[0], a.forward(x)[0])


def test_decoding_through_the_step_model():
    lm = small(cell="lstm")
    sm = lm.as_step_model()
    prompt = [1, 2, 3]
    g = greedy(sm, prompt, 12)
    assert np.array_equal(beam_search(sm, prompt, 12, beam_size=1), g)
    # greedy equals the argmax of a full forward pass fed its own output
    seq = list(prompt)
    for _ in range(12):
        logits, _ = lm.forward(np.array(seq)[:, None])
        seq.append(int(np.argmax(logits[-1, 0])))
    assert g.tolist() == seq[3:]
    s1, s2 = sample(sm, prompt, 20, seed=7), sample(sm, prompt, 20, seed=7)
    assert np.array_equal(s1, s2) and not np.array_equal(s1, sample(sm, prompt, 20, seed=8))
    assert len(beam_search(sm, prompt, 10, beam_size=4)) == 10


def test_config_is_validated_and_round_trips():
    with pytest.raises(ValueError, match="RNNLMConfig: tie_weights needs embedding_size == hidden_size, got 4 and 6"):
        RNNLMConfig(vocab_size=5, embedding_size=4, hidden_size=6, tie_weights=True)
    with pytest.raises(ValueError, match="RNNLMConfig: cell must be one of 'rnn', 'gru', 'lstm', 'mgu', got 'tcn'"):
        RNNLMConfig(vocab_size=5, cell="tcn")
    lm = small(cell="mgu")
    again = RNNLM.from_config(lm.config())
    assert again.config() == lm.config()
    with pytest.raises(ValueError, match="RNNLM.from_config: config must be an rnnlm config, got kind 'seq2seq'"):
        RNNLM.from_config({"kind": "seq2seq"})


@pytest.mark.parametrize("objective,scale", [("sum", 1.0), ("token_mean", 1 / 12), ("batch_mean", 1 / 3)])
def test_objective_scales_the_gradient_not_the_reported_loss(objective, scale):
    from rnnkit.batches import StreamBatches

    x = np.random.default_rng(6).integers(0, 13, size=(5, 3))
    window = StreamBatches(x, 4).batch(0, 0)  # 4 steps x 3 streams = 12 targets
    ref, lm = small(objective="sum", dtype="float64"), small(objective=objective, dtype="float64")
    r1, r2 = ref.train_step(window, None), lm.train_step(window, None)
    assert r1.loss_sum == r2.loss_sum and r2.count == 12
    for k in ref.grads:
        np.testing.assert_allclose(lm.grads[k], scale * ref.grads[k], rtol=1e-12, atol=1e-15)
