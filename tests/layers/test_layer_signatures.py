"""The named layers (RNN, GRU, LSTM, MGU, LayerNormLSTM, LayerNormGRU) spell out RecurrentLayer's keywords.

Each class repeats the shared keyword list in its own ``__init__`` so that ``help()``, editors and
type checkers show every option (as PyTorch's rnn.py does). The price is that the lists could drift
apart; these tests hold them together: the base's names, positional order and defaults, only the
family's own options and supported features added, and every keyword really forwarded.
"""

import inspect

import numpy as np
import pytest

import rnnkit
from rnnkit.cells import registry
from rnnkit.layers.recurrent import RecurrentLayer

NAMED = [rnnkit.RNN, rnnkit.GRU, rnnkit.LSTM, rnnkit.MGU, rnnkit.LayerNormLSTM, rnnkit.LayerNormGRU]
BASE = inspect.signature(RecurrentLayer.__init__).parameters
PLUMBING = {"self", "variant", "family"}  # the base's own ways in, set by each named class

# a valid value other than the default for each shared keyword, and how the layer reports it
NON_DEFAULT = {
    "num_layers": (2, lambda m: m.num_layers),
    "bias": (False, lambda m: m.bias),
    "batch_first": (True, lambda m: m.batch_first),
    "dropout": (0.25, lambda m: m.dropout),
    "bidirectional": (True, lambda m: m.bidirectional),
    "input_dropout": (0.1, lambda m: m.input_dropout),
    "recurrent_dropout": (0.2, lambda m: m.recurrent_dropout),
    "variational": (True, lambda m: m.variational),
    "weight_drop": (0.3, lambda m: m.weight_drop),
    "zoneout": (0.15, lambda m: m.zoneout[0]),
    "proj_size": (3, lambda m: m.proj_size),
    "peephole": (True, lambda m: m.peephole),
    "masked_output": ("previous", lambda m: m.masked_output),
    "go_backwards": (True, lambda m: m.go_backwards),
    "merge_mode": ("sum", lambda m: m.merge_mode),
    "dropout_masks": ("per_gate", lambda m: m.dropout_masks),
    "dtype": (np.float64, lambda m: m.dtype.type),
}


def _shared(cls):
    family = registry.get(cls._family_name)
    own = {o.name for o in family.options}
    params = inspect.signature(cls.__init__).parameters
    return family, own, params


@pytest.mark.parametrize("cls", NAMED, ids=lambda c: c.__name__)
def test_named_layer_keywords_match_the_base(cls):
    family, own, params = _shared(cls)
    expected = {n for n in BASE if n not in PLUMBING and (n not in registry.FEATURES or n in family.features)}
    shared = [n for n in params if n != "self" and n not in own]
    assert set(shared) == expected and len(shared) == len(expected)
    # the positional prefix is the base's; a family option or feature may join it where PyTorch's twin
    # has it positional (RNN's nonlinearity, LSTM's proj_size)
    positional = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    named_pos = [n for n in shared if params[n].kind in positional and n not in registry.FEATURES]
    assert named_pos == [n for n in BASE if n != "self" and BASE[n].kind in positional]
    for name in shared:
        assert params[name].default == BASE[name].default, name
    for option in family.options:
        assert params[option.name].default == option.default, option.name


@pytest.mark.parametrize("cls", NAMED, ids=lambda c: c.__name__)
def test_named_layer_forwards_every_keyword(cls):
    family, own, params = _shared(cls)
    for name in params:
        if name in ("self", "input_size", "hidden_size", "seed") or name in own:
            continue
        value, read = NON_DEFAULT[name]
        if name == "dropout_masks" and not family.takes_per_gate_masks(family.resolve("test", None)):
            with pytest.raises(ValueError, match="dropout_masks must be 'shared'"):  # reached the check
                cls(4, 5, dropout_masks=value, seed=0)
            continue
        layer = cls(4, 5, **{name: value}, seed=0)
        assert read(layer) == value, name
    for option in family.options:
        if option.choices:
            value = next(c for c in option.choices if c != option.default)
        elif isinstance(option.default, bool):
            value = not option.default
        else:  # a number (LayerNorm's eps)
            value = 2 * option.default
        layer = cls(4, 5, **{option.name: value}, seed=0)
        assert layer.variant[option.name] == value, option.name


def test_seed_is_forwarded():
    for cls in NAMED:
        a, b = cls(4, 5, seed=7), cls(4, 5, seed=7)
        c = cls(4, 5, seed=8)
        sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
        assert all(np.array_equal(sa[n], sb[n]) for n in sa)
        assert any(not np.array_equal(sa[n], sc[n]) for n in sa)
