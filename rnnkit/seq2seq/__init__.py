"""Sequence to sequence: encoder-decoder models with attention, copy and coverage, every gradient hand-derived.

Shape legend (the package's): T target steps, B batch, S source positions
(sentences for the hierarchical encoder), E embedding, H decoder hidden size,
Dm encoder output width (hidden_size * directions), A attention size, V target
vocabulary, V + n_oov the extended vocabulary of a copying batch.

Modules: ``attention`` (scores, masked softmax, context, coverage loss),
``encoder`` (flat and hierarchical encoders, the bridge), ``decoder`` (stacked
single-step cells, regularisers, input feeding, copy switch), ``copy`` (the
pointer-generator mixture and its loss), ``model`` (config, batch, loss, the
Trainer's protocol), ``search`` (decoding through :mod:`rnnkit.decoding`).
docs/seq2seq.md has every equation beside the function that computes it.

Public API
----------
``Seq2SeqConfig(src_vocab_size, tgt_vocab_size, *, cell="lstm", embedding_size=64, hidden_size=128,
encoder_layers=1, bidirectional=False, encoder="flat", decoder_hidden_size=None, decoder_layers=1,
bridge="projection", attention="additive", attention_size=None, input_feeding=False, copy=False,
coverage=False, coverage_loss_weight=0.0, dropout=0.0, recurrent_dropout=0.0, variational=False,
zoneout=0.0, scheduled_sampling=0.0, pad_id=0, bos_id=1, eos_id=2, unk_id=3, dtype="float32", seed=0,
kind="seq2seq")``: frozen, validated (errors name the field). ``cell`` any family of
``rnnkit.cells.registry`` (rnn, gru, lstm, mgu, ln_lstm, ln_gru, or one registered later);
``encoder`` flat|hierarchical; ``bridge`` projection|concat|zeros; ``attention``
none|dot|general|concat|additive; ``decoder_hidden_size=None`` means hidden_size * directions;
``attention_size=None`` the decoder's hidden size. Coverage needs concat or additive attention; copy
needs attention and the flat encoder.

``Seq2SeqBatch(src, src_lengths, tgt_in, tgt_out, tgt_lengths, word_lengths=None, src_ext=None,
n_oov=0)``, time-major int arrays: src (S, B) (hierarchical: (N, W, B) with word_lengths (N, B) and
src_lengths counting sentences), tgt_in (T, B) from BOS, tgt_out (T, B) to EOS, lengths (B,);
``Seq2SeqBatch.from_sequences(src, tgt, *, bos_id, eos_id, pad_id=0, src_ext=None, tgt_ext=None,
n_oov=0)`` pads lists of id lists; ``Seq2SeqBatch.from_sources(src, *, pad_id=0, src_ext=None,
n_oov=0)`` for decoding; ``Seq2SeqBatch.from_documents(docs, tgt=None, *, bos_id=1, eos_id=2,
pad_id=0)`` for the hierarchical encoder (docs[b] a list of sentences of ids). A copying batch's
extended ids come from the data (``rnnkit.tasks.seq2seq_data.extend_ids``: each example's source
words outside the target vocabulary numbered V, V+1, ...).

``Seq2Seq(config)`` (a :class:`rnnkit.Module`; ``state_dict`` names such as
``encoder.rnn.weight_ih_l0_reverse``, ``bridge.weight``, ``decoder.rnn.weight_hh_l1``,
``decoder.attention.v``, ``decoder.combine.weight``, ``decoder.out.weight``, ``decoder.copy.bias``):

- ``forward(batch, *, decoder_inputs=None, decoder_masks=None) -> Seq2SeqOutput`` with ``logits``
  (T, B, V), ``attention`` (T, B, S) or None, ``p_gen`` (T, B) or None, ``coverage`` (T, B, S) or
  None, ``decoder_inputs`` (T, B) (what was fed: scheduled sampling's samples included),
  ``decoder_masks``; passing the last two back holds samples and dropout masks fixed.
- ``loss(out, batch) -> Seq2SeqLoss`` (``loss`` = ``nll`` + coverage_loss_weight * ``coverage_loss``,
  summed over ``count`` target tokens); ``backward(loss, scale=1.0)`` adds d(scale * loss) into
  ``grads``; ``log_probs(out, batch)`` (T, B, V [+ n_oov]).
- ``sampling_probability`` (settable; starts at ``scheduled_sampling``): scheduled sampling's current
  probability; ``scheduled_sampling_probability(step, k, schedule="inverse_sigmoid"|"exponential"|
  "linear")`` gives Bengio et al. 2015's decays.
- The Trainer's protocol: ``initial_state(batch) -> None``, ``train_step(batch, state) ->
  StepResult(loss_sum, count, None)`` (gradient of the mean per token), ``eval_step``, ``config()``,
  ``Seq2Seq.from_config(dict)``.

Decoding: ``translate(model, batch, *, method="greedy"|"beam"|"sample", max_len=100, min_len=0,
beam_size=5, length_penalty=0.0, coverage_penalty=0.0, no_repeat_ngram_size=0, temperature=1.0,
top_k=None, top_p=None, seed=None) -> list[Translation(tokens, logprob, attention (n, S_b))]``;
``Seq2SeqStepModel(model, batch)`` is rnnkit.decoding's step model over the batch's sources
(``for_source(b)`` for one source, ``coverage(state)`` for the coverage penalty);
``force(step_model, tokens) -> (logprob, attention)`` scores given tokens under one source,
``force_batched(step_model, outputs) -> list[Translation]`` under every source at once;
``beam_search_batched(step_model, max_len, *, beam_size=5, length_penalty=0.0, coverage_penalty=0.0,
no_repeat_ngram_size=0, min_len=0) -> list[rnnkit.decoding.Hypothesis]`` is rnnkit.decoding's beam
search for all sources in one step per time step.

Example
-------
>>> import numpy as np
>>> from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqBatch
>>> cfg = Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=10, cell="gru", embedding_size=8, hidden_size=8,
...                     bidirectional=True, attention="additive")
>>> model = Seq2Seq(cfg)
>>> batch = Seq2SeqBatch.from_sequences([[4, 5, 6], [7, 8]], [[6, 5, 4], [8, 7]], bos_id=1, eos_id=2)
>>> out = model.forward(batch)
>>> out.logits.shape, out.attention.shape        # (T, B, V), (T, B, S)
((4, 2, 10), (4, 2, 3))
>>> float(out.attention[:, 1, 2].max())          # attention on padding is exactly zero
0.0
>>> res = model.loss(out, batch)
>>> model.backward(res, 1.0 / res.count)         # adds into model.grads
"""

from rnnkit.seq2seq.model import (
    Seq2Seq,
    Seq2SeqBatch,
    Seq2SeqConfig,
    Seq2SeqLoss,
    Seq2SeqOutput,
    scheduled_sampling_probability,
)
from rnnkit.seq2seq.search import (
    Seq2SeqStepModel,
    Translation,
    beam_search_batched,
    force,
    force_batched,
    translate,
)

__all__ = [
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqBatch",
    "Seq2SeqOutput",
    "Seq2SeqLoss",
    "Seq2SeqStepModel",
    "Translation",
    "translate",
    "force",
    "force_batched",
    "beam_search_batched",
    "scheduled_sampling_probability",
]
