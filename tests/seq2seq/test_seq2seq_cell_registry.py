"""The encoder-decoder reads its cell from the registry: every registered family trains, decodes and backpropagates.

The layer-normalised families (a backward that returns fresh gradient arrays, LN gains and shifts
instead of biases) and a toy family registered only for this module (tests/cells/toy_family.py)
go through the same float64 finite differences as the built-in four.
"""

from __future__ import annotations

import numpy as np
import pytest
from cells import toy_family
from s2s_common import check_model_gradients, hierarchical_batch, random_batch, randomize, tiny_config

from rnnkit.cells import registry
from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig, translate

TOY = toy_family.FAMILY.name


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    registry.register(toy_family.FAMILY)
    yield
    registry.unregister(TOY)


CASES = {
    "ln_gru": dict(cell="ln_gru", bidirectional=True, input_feeding=True),
    "ln_lstm-regularisers": dict(cell="ln_lstm", decoder_layers=2, dropout=0.3, recurrent_dropout=0.3, zoneout=0.3),
    "ln_lstm-concat-copy": dict(cell="ln_lstm", bidirectional=True, bridge="concat", copy=True),
    "toy": dict(cell=TOY, bidirectional=True, decoder_layers=2, coverage=True, coverage_loss_weight=0.5),
}


@pytest.mark.parametrize("name", list(CASES))
def test_whole_model_gradients_for_any_registered_family(name):
    kw = CASES[name]
    model = randomize(Seq2Seq(tiny_config(**kw)))
    batch = random_batch(seed=len(name), copy=kw.get("copy", False))
    assert check_model_gradients(model, batch) < 1e-6


@pytest.mark.parametrize("cell", ["ln_lstm", TOY])
def test_hierarchical_encoder_gradients_for_any_registered_family(cell):
    model = randomize(Seq2Seq(tiny_config(encoder="hierarchical", cell=cell)))
    assert check_model_gradients(model, hierarchical_batch()) < 1e-6


@pytest.mark.parametrize("cell", ["ln_gru", "ln_lstm", TOY])
def test_parameters_follow_the_family_layout(cell):
    model = Seq2Seq(tiny_config(cell=cell, decoder_layers=2))
    family = registry.get(cell)
    spec = family.parameter_spec(3, 3, variant=family.defaults())
    for layer in range(2):
        for name, (shape, how) in spec.items():
            p = model.params[f"decoder.rnn.{name}_l{layer}"]
            assert p.shape == shape
            if how == "ones":
                assert (p == 1).all()
            elif how == "zeros":
                assert (p == 0).all()
    enc = {k.removeprefix("encoder.rnn.") for k in model.params if k.startswith("encoder.rnn.")}
    assert enc == {f"{n}_l0" for n in spec}  # the encoder's layer is the family's own


def test_a_registered_family_trains_and_decodes():
    model = Seq2Seq(tiny_config(cell=TOY, dtype="float32"))
    batch = random_batch(seed=3)
    first = model.train_step(batch).loss_sum
    for p, g in zip(model.params.values(), model.grads.values()):
        assert np.isfinite(g).all() and g.shape == p.shape
    model.eval()
    out = translate(model, batch, method="beam", beam_size=2, max_len=5)
    assert len(out) == 3 and all(len(t.tokens) <= 5 for t in out)
    assert np.isfinite(first)


def test_an_unregistered_cell_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"Seq2SeqConfig: cell must be one of .*'ln_lstm'.*got 'nope'"):
        Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=8, cell="nope")
