"""Float64 finite differences of the whole seq2seq loss, every parameter, for every model option."""

from __future__ import annotations

import pytest
from s2s_common import check_model_gradients, hierarchical_batch, random_batch, randomize, tiny_config

from rnnkit.seq2seq import Seq2Seq

CASES = {
    "none": dict(attention="none"),
    "dot": dict(attention="dot"),
    "general": dict(attention="general"),
    "concat": dict(attention="concat"),
    "additive": dict(attention="additive"),
    "dot-feed": dict(attention="dot", input_feeding=True),
    "general-feed": dict(attention="general", input_feeding=True),
    "concat-feed": dict(attention="concat", input_feeding=True),
    "additive-feed": dict(attention="additive", input_feeding=True),
    "none-feed": dict(attention="none", input_feeding=True),
    "copy": dict(copy=True),
    "copy-general-feed": dict(copy=True, attention="general", input_feeding=True),
    "coverage": dict(coverage=True),
    "coverage-loss": dict(coverage=True, coverage_loss_weight=0.7),
    "coverage-concat-loss": dict(coverage=True, attention="concat", coverage_loss_weight=0.4),
    "copy-coverage-loss-feed": dict(copy=True, coverage=True, coverage_loss_weight=0.5, input_feeding=True),
    "bi-lstm-2x2": dict(cell="lstm", bidirectional=True, encoder_layers=2, decoder_layers=2),
    "bi-rnn-concat-bridge": dict(cell="rnn", bidirectional=True, bridge="concat"),
    "bi-lstm-concat-bridge": dict(cell="lstm", bidirectional=True, bridge="concat"),
    "mgu-zeros-bridge": dict(cell="mgu", bridge="zeros"),
    "bi-gru-projection": dict(cell="gru", bidirectional=True, decoder_hidden_size=4),
    "regularisers-lstm": dict(
        cell="lstm", encoder_layers=2, decoder_layers=2, dropout=0.3, recurrent_dropout=0.3, zoneout=0.3
    ),
    "regularisers-variational": dict(
        decoder_layers=3, dropout=0.3, recurrent_dropout=0.3, zoneout=0.2, variational=True, input_feeding=True
    ),
    "scheduled-sampling": dict(scheduled_sampling=0.5),
    "scheduled-sampling-copy": dict(scheduled_sampling=0.5, copy=True, coverage=True, coverage_loss_weight=0.3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_whole_model_gradients(name):
    kw = CASES[name]
    model = randomize(Seq2Seq(tiny_config(**kw)))
    batch = random_batch(seed=len(name), copy=kw.get("copy", False))
    assert check_model_gradients(model, batch) < 1e-6


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(cell="lstm", bidirectional=True, attention="general", encoder_layers=2, input_feeding=True)],
    ids=["gru", "bi-lstm-2-general-feed"],
)
def test_hierarchical_encoder_gradients(kw):
    model = randomize(Seq2Seq(tiny_config(encoder="hierarchical", **kw)))
    assert check_model_gradients(model, hierarchical_batch()) < 1e-6


def test_scheduled_sampling_feeds_samples_and_they_can_be_held():
    model = randomize(Seq2Seq(tiny_config(scheduled_sampling=0.9)))
    batch = random_batch(seed=1)
    out = model.forward(batch)
    assert (out.decoder_inputs != batch.tgt_in).any()  # some samples were fed
    assert (out.decoder_inputs[0] == batch.tgt_in[0]).all()  # the first input is always BOS
    again = model.forward(batch, decoder_inputs=out.decoder_inputs, decoder_masks=out.decoder_masks)
    assert (again.logits == out.logits).all()
