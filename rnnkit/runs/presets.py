"""Named training recipes: every model and training field of ``rnnkit lm train`` / ``rnnkit ngram train``.

``rnnkit lm train --preset ptb-small-lstm --data ptb.train.txt --valid ptb.valid.txt``
fills the fields of :class:`rnnkit.runs.lm.LMTrainConfig` from the preset; a
flag the user types as well overrides the preset's value. The data is never part
of a preset: ``--data`` and ``--valid`` name the files. ``--preset list`` prints
the names with one line each.

Each preset is frozen data: a name, a one-line summary, a longer description
(what it is and why its numbers), the reference it follows (author, title, year)
and the field values. The ``ptb-`` presets are the rows of the Penn Treebank
table of docs/language-models.md (word level, the 10,000-word vocabulary of the
corpus as distributed).

Example
-------
>>> from rnnkit.runs.presets import LM_PRESETS, apply_preset
>>> p = LM_PRESETS["ptb-small-lstm"]
>>> p.values["hidden_size"], p.values["lr_decay"], p.values["decay_start"]
(200, 0.5, 4)
>>> apply_preset(p, {"epochs": 2, "data": "train.txt"})["epochs"]     # a typed flag wins
2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["Preset", "LM_PRESETS", "NGRAM_PRESETS", "apply_preset", "describe", "get"]


@dataclass(frozen=True)
class Preset:
    """One named recipe: ``values`` maps config field names to the values it sets."""

    name: str
    summary: str  # one line, shown by --preset list
    description: str  # what the recipe is and why its numbers
    reference: str  # author(s), title, year
    values: Mapping[str, Any]


def _frozen(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


ZAREMBA = 'W. Zaremba, I. Sutskever, O. Vinyals, "Recurrent neural network regularization", 2014'
MIKOLOV_RNNLM = (
    'T. Mikolov, M. Karafiat, L. Burget, J. Cernocky, S. Khudanpur, "Recurrent neural network based language '
    'model", 2010; R. Pascanu, T. Mikolov, Y. Bengio, "On the difficulty of training recurrent neural networks", 2013'
)
BENGIO = 'Y. Bengio, R. Ducharme, P. Vincent, C. Jauvin, "A neural probabilistic language model", 2003'
CHEN_GOODMAN = 'S. F. Chen, J. Goodman, "An empirical study of smoothing techniques for language modeling", 1998'

# Zaremba et al.'s small, non-regularised network: 2 x 200 units unrolled 20 steps, batch 20, plain SGD at lr 1,
# gradient norm clipped at 5, 13 epochs, the lr halved after each epoch from the 5th on, weights uniform in +-0.1,
# the loss summed over the 20 steps and averaged over the batch ("batch_mean").
_ZAREMBA_SMALL = dict(
    architecture="rnnlm",
    level="word",
    min_count=1,
    max_vocab=None,
    embedding_size=200,
    hidden_size=200,
    num_layers=2,
    dropout=0.0,
    recurrent_dropout=0.0,
    variational=False,
    tie_weights=False,
    init_range=0.1,
    objective="batch_mean",
    batch_size=20,
    bptt=20,
    optimizer="sgd",
    lr=1.0,
    lr_decay=0.5,
    decay_start=4,
    plateau_factor=1.0,
    patience=None,
    clip_norm=5.0,
    epochs=13,
    max_minutes=0.0,
    adaptive_cutoffs=None,
    seed=0,
)

# The GRU and MGU rows: Zaremba's small size and pipeline, at half the learning rate (lr 1 diverges for the GRU)
# and with dropout 0.2 (without it the GRU overfits from the third epoch and stops at 125.7).
_GATED_SMALL = {**_ZAREMBA_SMALL, "lr": 0.5, "dropout": 0.2, "decay_start": 6}

LM_PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                "ptb-small-lstm",
                "Zaremba et al.'s small LSTM: 2 x 200, 20 steps, batch 20, SGD lr 1 halved after epoch 4, 13 epochs",
                "The non-regularised small LSTM of Zaremba et al. (2014): two layers of 200 units, 20 steps of "
                "truncated BPTT over 20 streams, plain SGD at lr 1 with the gradient norm clipped at 5, weights "
                "uniform in [-0.1, 0.1], no dropout, 13 epochs, the learning rate halved after every epoch from "
                "the fifth on. The paper reports 120.7 validation and 114.5 test perplexity.",
                ZAREMBA,
                _frozen(**{**_ZAREMBA_SMALL, "cell": "lstm"}),
            ),
            Preset(
                "ptb-small-gru",
                "GRU 2 x 200 (Zaremba's small size): SGD lr 0.5, clip 5, dropout 0.2, halved after epoch 6, 13 epochs",
                "The size and data pipeline of Zaremba et al.'s small model (2 x 200, 20 steps, batch 20, weights in "
                "+-0.1, SGD with the norm clipped at 5, 13 epochs) with the GRU cell. Two changes from the LSTM "
                "recipe, both measured on this corpus: at lr 1 the GRU diverges (validation perplexity 187 after 1.6 "
                "epochs, then 346), so the learning rate is 0.5; and without dropout the GRU at lr 0.5 stops at "
                "125.7, overfitting from the third epoch on (validation perplexity rising inside each epoch), so "
                "dropout 0.2 on the embeddings, between the layers and before the output, with the constant rate "
                "kept two epochs longer (halving after every epoch from the seventh on).",
                ZAREMBA + '; K. Cho et al., "Learning phrase representations using RNN encoder-decoder", 2014',
                _frozen(**{**_GATED_SMALL, "cell": "gru"}),
            ),
            Preset(
                "ptb-small-mgu",
                "MGU 2 x 200: the ptb-small-gru recipe with the minimal gated unit",
                "The ptb-small-gru recipe (2 x 200, SGD lr 0.5, clip 5, dropout 0.2, halving after every epoch from "
                "the seventh on, 13 epochs) with the minimal gated unit, one forget gate per layer: the same size, "
                "data and schedule, so the two gated cells compare directly.",
                ZAREMBA + '; G.-B. Zhou, J. Wu, C.-L. Zhang, Z.-H. Zhou, "Minimal gated unit for recurrent neural '
                'networks", 2016',
                _frozen(**{**_GATED_SMALL, "cell": "mgu"}),
            ),
            Preset(
                "ptb-small-rnn",
                "tanh RNN LM (Mikolov style), 1 x 200, Adam lr 1e-3, clip 0.5, halved on plateau, early stop",
                "A plain tanh recurrent language model in the manner of Mikolov et al. (2010): one layer of 200 "
                "units, 20 steps of truncated BPTT over 20 streams. What keeps it from diverging (with Zaremba et "
                "al.'s SGD at lr 1 the tanh RNN diverges): Adam at lr 1e-3 instead of SGD at lr 1, the gradient "
                "norm clipped at 0.5 (Pascanu et al. 2013), the mean loss per token rather than the sum over 20 "
                "steps (a twenty times smaller gradient before clipping), small initial weights (uniform in "
                "[-0.1, 0.1]), and the learning rate halved at every validation evaluation that does not improve, "
                "with training stopped after 5 evaluations without improvement.",
                MIKOLOV_RNNLM,
                _frozen(
                    **{
                        **_ZAREMBA_SMALL,
                        "cell": "rnn",
                        "num_layers": 1,
                        "objective": "token_mean",
                        "optimizer": "adam",
                        "lr": 1e-3,
                        "lr_decay": 1.0,
                        "decay_start": 0,
                        "plateau_factor": 0.5,
                        "patience": 5,
                        "clip_norm": 0.5,
                    }
                ),
            ),
            Preset(
                "ptb-nnlm",
                "Bengio et al.'s window NNLM, n = 5, E 100, H 200, direct connections, dropout 0.2, early stop",
                "The feed-forward neural language model of Bengio et al. (2003), y = b + W x + U tanh(d + H x), "
                "predicting each word from the 4 before it: embeddings of 100, a tanh layer of 200, direct "
                "connections from the embeddings to the output. Adam at lr 2e-3 over minibatches of 256 windows. "
                "Without regularisation it overfits after about one epoch, so dropout 0.2 on the embeddings and the "
                "hidden layer, the learning rate halved at every validation evaluation that does not improve, and "
                "training stopped after 5 evaluations without improvement (5 evaluations per epoch).",
                BENGIO,
                _frozen(
                    architecture="nnlm",
                    level="word",
                    min_count=1,
                    max_vocab=None,
                    context=4,
                    direct=True,
                    embedding_size=100,
                    hidden_size=200,
                    dropout=0.2,
                    init_range=None,
                    batch_size=256,
                    optimizer="adam",
                    lr=2e-3,
                    lr_decay=1.0,
                    decay_start=0,
                    plateau_factor=0.5,
                    patience=5,
                    clip_norm=0.0,
                    epochs=20,
                    max_minutes=0.0,
                    adaptive_cutoffs=None,
                    seed=0,
                ),
            ),
        )
    }
)


def _ngram(order: int, smoothing: str, delta: float | None = None) -> Mapping[str, Any]:
    return _frozen(level="word", order=order, smoothing=smoothing, delta=delta, min_count=1)


NGRAM_PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                "ptb-add1-2",
                "bigram with add-one (Laplace) smoothing",
                "Every bigram count plus one: P(w | v) = (c(v w) + 1) / (c(v) + V). The textbook baseline; it "
                "gives far too much mass to unseen bigrams.",
                'D. Jurafsky, J. H. Martin, "Speech and Language Processing", chapter 3',
                _ngram(2, "laplace"),
            ),
            Preset(
                "ptb-add1-3",
                "trigram with add-one (Laplace) smoothing",
                "Every trigram count plus one; worse than the bigram, since more of the mass goes to unseen events.",
                'D. Jurafsky, J. H. Martin, "Speech and Language Processing", chapter 3',
                _ngram(3, "laplace"),
            ),
            Preset(
                "ptb-lidstone-2",
                "bigram with Lidstone smoothing, delta 0.01",
                "Every bigram count plus delta = 0.01: P(w | v) = (c(v w) + delta) / (c(v) + delta V).",
                CHEN_GOODMAN,
                _ngram(2, "lidstone", 0.01),
            ),
            Preset(
                "ptb-lidstone-3",
                "trigram with Lidstone smoothing, delta 0.01",
                "Every trigram count plus delta = 0.01.",
                CHEN_GOODMAN,
                _ngram(3, "lidstone", 0.01),
            ),
            Preset(
                "ptb-wb3",
                "interpolated Witten-Bell trigram",
                "Witten-Bell smoothing: the weight of the lower order is the number of distinct words seen after "
                "the context over that number plus the context's count.",
                'I. H. Witten, T. C. Bell, "The zero-frequency problem", 1991; ' + CHEN_GOODMAN,
                _ngram(3, "witten-bell"),
            ),
            Preset(
                "ptb-kn3",
                "interpolated modified Kneser-Ney trigram",
                "Three discounts per order, lower orders from continuation counts (Chen and Goodman 1998).",
                CHEN_GOODMAN,
                _ngram(3, "kneser-ney"),
            ),
            Preset(
                "ptb-kn5",
                "interpolated modified Kneser-Ney 5-gram (the KN5 baseline of Mikolov et al. 2011)",
                "Three discounts per order, lower orders from continuation counts; the usual strong count-based "
                "baseline on this corpus (Mikolov et al. 2011 report 141.2 test perplexity).",
                CHEN_GOODMAN,
                _ngram(5, "kneser-ney"),
            ),
        )
    }
)


def get(presets: Mapping[str, Preset], name: str, flag: str = "--preset") -> Preset:
    """The preset ``name``; ValueError naming ``flag`` and the choices otherwise."""
    if name not in presets:
        raise ValueError(f"{flag} must be one of {', '.join(presets)} (or list), got {name!r}")
    return presets[name]


def apply_preset(preset: Preset, typed: Mapping[str, Any]) -> dict:
    """The preset's values with the ``typed`` ones (the flags the user gave) laid over them."""
    return {**preset.values, **typed}


def describe(presets: Mapping[str, Preset]) -> str:
    """One line per preset: its name and summary (what ``--preset list`` prints)."""
    width = max(len(n) for n in presets)
    return "\n".join(f"{p.name:<{width}}  {p.summary}" for p in presets.values())
