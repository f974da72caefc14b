"""rnnkit.interop.torch: state_dicts, safetensors files and torch.nn modules, checked against PyTorch itself.

Round trips are bit-identical; outputs of the built torch module match rnnkit's
to 1e-12 (float64) and 1e-6 (float32); every error names the key at fault.
"""

import doctest
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit.interop import torch as interop
from rnnkit.interop.torch import (
    from_torch_module,
    from_torch_state_dict,
    load_torch_safetensors,
    save_torch_safetensors,
    to_torch_state_dict,
    torch_module,
)
from rnnkit.io import load_metadata

from helpers import REPO_ROOT, assert_close

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-12, np.float32: 1e-6}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
# (rnnkit / torch class, constructor kwargs) of every layer PyTorch has
TORCH_LAYERS = [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {})]
IDS = ["RNN-tanh", "RNN-relu", "GRU", "LSTM"]


def _layer(name, kw, dtype=np.float32, seed=0, **extra):
    return getattr(rnnkit, name)(5, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=seed, **kw, **extra)


def _states(layer, B, rng):
    L = layer.num_layers * layer.num_directions
    h = rng.normal(size=(L, B, layer.hidden_size)).astype(layer.dtype)
    if isinstance(layer, rnnkit.LSTM):
        return (h, rng.normal(size=h.shape).astype(layer.dtype))
    return h


def _run_torch(module, x, hx):
    with torch.no_grad():
        t_hx = tuple(torch.from_numpy(s) for s in hx) if isinstance(hx, tuple) else torch.from_numpy(hx)
        out, hn = module(torch.from_numpy(x), t_hx)
    return out.numpy(), (tuple(s.numpy() for s in hn) if isinstance(hn, tuple) else hn.numpy())


def _assert_close(what, ours, theirs, tol):
    assert_close(what, ours, theirs, tol, peer="torch")


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", TORCH_LAYERS, ids=IDS)
def test_round_trip_through_torch_module_is_bit_identical(name, kw, dtype):
    ours = _layer(name, kw, dtype, seed=0)
    theirs = getattr(torch.nn, name)(5, 4, num_layers=2, bidirectional=True, dtype=TORCH_DTYPE[dtype], **kw)
    theirs.load_state_dict(to_torch_state_dict(ours, as_tensors=True))  # plain torch API, no helper
    back = _layer(name, kw, dtype, seed=1)
    assert not np.array_equal(back.params["weight_hh_l1_reverse"], ours.params["weight_hh_l1_reverse"])
    from_torch_state_dict(back, theirs.state_dict())
    assert list(back.params) == list(theirs.state_dict())  # same names, PyTorch's order
    for k, v in ours.params.items():
        assert back.params[k].dtype == v.dtype, k
        assert np.array_equal(back.params[k], v), f"{k} changed in the round trip"


def test_state_dict_is_a_copy_and_tensors_have_the_layer_dtype():
    layer = rnnkit.LSTM(3, 2, dtype=np.float64, seed=0)
    sd = to_torch_state_dict(layer)
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["weight_ih_l0"][...] = 7.0
    assert not np.any(layer.params["weight_ih_l0"] == 7.0)
    tensors = to_torch_state_dict(layer, as_tensors=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float64 for v in tensors.values())
    tensors["bias_hh_l0"].fill_(3.0)
    assert not np.any(layer.params["bias_hh_l0"] == 3.0)


def test_from_torch_module_builds_the_same_layer():
    torch.manual_seed(0)
    src = torch.nn.GRU(5, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    layer = from_torch_module(src)
    assert (type(layer).__name__, layer.num_layers, layer.bidirectional, layer.batch_first, layer.dtype) == (
        "GRU",
        2,
        True,
        True,
        np.float64,
    )
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(3, 6, 5)), rng.normal(size=(4, 3, 4))
    out, hn = layer.forward(x, h0)
    t_out, t_hn = _run_torch(src, x, h0)
    _assert_close("out", out, t_out, 1e-12)
    _assert_close("h_n", hn, t_hn, 1e-12)
    cell = from_torch_module(torch.nn.LSTMCell(3, 2), dtype=np.float64)
    assert type(cell).__name__ == "LSTMCell" and cell.dtype == np.float64


# -- outputs of the built torch module -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", TORCH_LAYERS, ids=IDS)
def test_torch_module_gives_rnnkit_outputs(name, kw, dtype):
    rng = np.random.default_rng(1)
    layer = _layer(name, kw, dtype, seed=2, batch_first=True)
    module = torch_module(layer)
    assert type(module) is getattr(torch.nn, name)
    assert (module.num_layers, module.bidirectional, module.batch_first) == (2, True, True)
    assert next(module.parameters()).dtype == TORCH_DTYPE[dtype]
    x = rng.normal(size=(3, 7, 5)).astype(dtype)  # (B, T, D)
    hx = _states(layer, 3, rng)
    out, hn = layer.forward(x, hx)
    t_out, t_hn = _run_torch(module, x, hx)
    _assert_close("out", out, t_out, TOL[dtype])
    ours, theirs = (hn, t_hn) if isinstance(hn, tuple) else ((hn,), (t_hn,))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        _assert_close(f"state[{i}]", a, b, TOL[dtype])


def test_lstm_projection_carries_over_both_ways():
    rng = np.random.default_rng(13)
    layer = rnnkit.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3, dtype=np.float64, seed=0)
    module = torch_module(layer)
    assert module.proj_size == 3 and module.weight_hr_l1_reverse.shape == (3, 6)
    x = rng.normal(size=(7, 2, 5))
    hx = (rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 6)))
    out, (h, c) = layer.forward(x, hx)
    t_out, (t_h, t_c) = _run_torch(module, x, hx)
    _assert_close("out", out, t_out, 1e-12)
    _assert_close("h_n", h, t_h, 1e-12)
    _assert_close("c_n", c, t_c, 1e-12)
    back = from_torch_module(module)
    assert back.proj_size == 3
    assert all(np.array_equal(back.params[k], v) for k, v in layer.params.items())
    with pytest.raises(ValueError, match=r"unexpected 'weight_hr_l0'.*build the layer with the same proj_size"):
        from_torch_state_dict(rnnkit.LSTM(5, 6), torch.nn.LSTM(5, 6, proj_size=3).state_dict())
    with pytest.raises(ValueError, match=r"missing 'weight_hr_l0'.*proj_size=0"):
        from_torch_state_dict(rnnkit.LSTM(5, 6, proj_size=3), torch.nn.LSTM(5, 6).state_dict())


def test_train_only_regularisers_are_dropped_with_a_warning(caplog):
    layer = rnnkit.GRU(3, 2, recurrent_dropout=0.3, weight_drop=0.2, seed=0)
    with caplog.at_level("WARNING", logger="rnnkit.interop.torch"):
        module = torch_module(layer)
    assert "recurrent_dropout=0.3, weight_drop=0.2" in caplog.text
    assert np.array_equal(module.weight_hh_l0.detach().numpy(), layer.params["weight_hh_l0"])


@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_torch_module_of_a_cell(name):
    rng = np.random.default_rng(3)
    cell = getattr(rnnkit, name)(5, 4, dtype=np.float64, seed=0)
    module = torch_module(cell)
    assert type(module) is getattr(torch.nn, name)
    x, h = rng.normal(size=(2, 5)), rng.normal(size=(2, 4))
    hx = (h, rng.normal(size=(2, 4))) if name == "LSTMCell" else h
    ours = cell.forward(x, hx)
    with torch.no_grad():
        theirs = module(
            torch.from_numpy(x), tuple(map(torch.from_numpy, hx)) if name == "LSTMCell" else torch.from_numpy(hx)
        )
    ours, theirs = (ours, theirs) if name == "LSTMCell" else ((ours,), (theirs,))
    for a, b in zip(ours, theirs):
        _assert_close(name, a, b.numpy(), 1e-12)


def test_torch_module_copies_dropout_and_mode():
    layer = rnnkit.LSTM(3, 2, num_layers=3, dropout=0.25, seed=0)
    assert torch_module(layer).training and torch_module(layer).dropout == 0.25
    layer.eval()
    assert not torch_module(layer).training


# -- safetensors ----------------------------------------------------------------------------------
def test_safetensors_file_loads_into_torch_lstm(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    rng = np.random.default_rng(4)
    layer = rnnkit.LSTM(5, 4, num_layers=2, bidirectional=True, seed=5)
    path = tmp_path / "lstm.safetensors"
    digest = save_torch_safetensors(layer, path, metadata={"note": "demo"})
    assert len(digest) == 64
    tensors = st_torch.load_file(str(path))
    module = torch.nn.LSTM(5, 4, num_layers=2, bidirectional=True)
    module.load_state_dict(tensors)  # strict: exactly the right keys
    x = rng.normal(size=(6, 3, 5)).astype(np.float32)
    out, (h, c) = layer.forward(x)
    with torch.no_grad():
        t_out, (t_h, t_c) = module(torch.from_numpy(x))
    _assert_close("out", out, t_out.numpy(), 1e-6)
    _assert_close("h_n", h, t_h.numpy(), 1e-6)
    _assert_close("c_n", c, t_c.numpy(), 1e-6)
    meta = load_metadata(path)
    assert meta["format"] == "pt" and meta["note"] == "demo"
    assert json.loads(meta["rnnkit_layers"])[""]["class"] == "LSTM"


def test_load_safetensors_written_by_torch(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(1)
    module = torch.nn.GRU(5, 4, num_layers=2)
    path = tmp_path / "gru.safetensors"
    st_torch.save_file(module.state_dict(), str(path))
    layer = rnnkit.GRU(5, 4, num_layers=2, seed=9)
    load_torch_safetensors(layer, path)
    for k, v in module.state_dict().items():
        assert np.array_equal(layer.params[k], v.numpy()), k


def test_load_safetensors_refuses_another_variant_with_the_same_shapes(tmp_path):
    path = tmp_path / "gru.safetensors"
    save_torch_safetensors(rnnkit.GRU(3, 2, reset_after=False, seed=0), path, allow_variants=True)
    same = rnnkit.GRU(3, 2, reset_after=False, seed=1)
    load_torch_safetensors(same, path, allow_variants=True)
    other = rnnkit.GRU(3, 2, seed=1)  # reset_after=True, identical shapes
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"reset_after=False in the file, True here"):
        load_torch_safetensors(other, path)
    assert all(np.array_equal(other.params[k], v) for k, v in before.items())


def test_save_refuses_reserved_metadata(tmp_path):
    with pytest.raises(ValueError, match="reserved keys"):
        save_torch_safetensors(rnnkit.RNN(2, 3), tmp_path / "x.safetensors", metadata={"format": "tf"})


# -- errors ---------------------------------------------------------------------------------------
def test_missing_and_unexpected_keys_are_named():
    layer = rnnkit.LSTM(5, 4, seed=0)
    sd = to_torch_state_dict(layer)
    del sd["bias_hh_l0"]
    sd["weight_hr_l0"] = np.zeros((2, 4), np.float32)
    with pytest.raises(
        ValueError,
        match=r"missing 'bias_hh_l0' \(expected shape \(16,\)\).*unexpected 'weight_hr_l0'"
        r".*proj_size",
    ):
        from_torch_state_dict(layer, sd)


def test_shape_mismatch_names_the_key_and_both_shapes():
    layer = rnnkit.GRU(5, 4, seed=0)
    sd = to_torch_state_dict(rnnkit.LSTM(5, 4, seed=0))
    with pytest.raises(
        ValueError,
        match=r"state_dict\['weight_ih_l0'\] must have shape \(12, 5\), got \(16, 5\) "
        r"\(4 gate blocks of hidden_size 4: an LSTM",
    ):
        from_torch_state_dict(layer, sd)
    sd = to_torch_state_dict(layer)
    sd["weight_ih_l0"] = sd["weight_ih_l0"].T
    with pytest.raises(ValueError, match=r"'weight_ih_l0'.*got \(5, 12\).*transposed"):
        from_torch_state_dict(layer, sd)


def test_failed_load_changes_nothing():
    layer = rnnkit.RNN(3, 2, num_layers=2, seed=0)
    before = layer.state_dict()
    sd = to_torch_state_dict(rnnkit.RNN(3, 2, num_layers=2, seed=1))
    sd["bias_hh_l1"] = np.zeros(5, np.float32)  # the last key is the bad one
    with pytest.raises(ValueError, match="bias_hh_l1"):
        from_torch_state_dict(layer, sd)
    assert all(np.array_equal(layer.params[k], v) for k, v in before.items())


def test_prefix_selects_a_submodule_and_is_suggested():
    src = torch.nn.LSTM(3, 2)
    model_sd = {f"encoder.rnn.{k}": v for k, v in src.state_dict().items()}
    model_sd["decoder.weight"] = torch.zeros(1)
    layer = rnnkit.LSTM(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"prefix='encoder\.rnn\.'"):
        from_torch_state_dict(layer, model_sd)
    from_torch_state_dict(layer, model_sd, prefix="encoder.rnn.")
    assert np.array_equal(layer.params["weight_hh_l0"], src.weight_hh_l0.detach().numpy())
    with pytest.raises(ValueError, match=r"prefix='nothing\.' matches no key"):
        from_torch_state_dict(layer, model_sd, prefix="nothing.")


def test_bias_and_direction_hints():
    layer = rnnkit.GRU(3, 2, bidirectional=True, seed=0)
    with pytest.raises(ValueError, match="bias=False.*bidirectional=False"):
        from_torch_state_dict(layer, torch.nn.GRU(3, 2, bias=False).state_dict())


def test_bad_argument_types():
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        from_torch_state_dict(rnnkit.RNN(2, 3), [("weight_ih_l0", np.zeros((3, 2)))])
    with pytest.raises(TypeError, match=r"state_dict\['weight_ih_l0'\] must be a tensor or array, got list"):
        sd = to_torch_state_dict(rnnkit.RNN(2, 3))
        sd["weight_ih_l0"] = [[0.0, 0.0]] * 3
        from_torch_state_dict(rnnkit.RNN(2, 3), sd)
    with pytest.raises(TypeError, match="layer must be an rnnkit Module"):
        to_torch_state_dict(torch.nn.RNN(2, 3))
    with pytest.raises(TypeError, match="module must be a torch.nn"):
        from_torch_module(torch.nn.Linear(2, 3))


def test_bfloat16_tensors_are_accepted():
    layer = rnnkit.RNN(2, 4, seed=0)
    sd = {k: torch.full(tuple(v.shape), 0.5, dtype=torch.bfloat16) for k, v in layer.params.items()}
    from_torch_state_dict(layer, sd)
    assert all(np.all(v == 0.5) for v in layer.params.values())


VARIANTS_WITHOUT_TORCH = [
    (lambda: rnnkit.GRU(3, 2, reset_after=False), r"applies r before W_hn"),
    (lambda: rnnkit.GRU(3, 2, reset_gate=False), r"2 gate blocks"),
    (lambda: rnnkit.MGU(3, 2), r"MGU has no torch\.nn equivalent"),
    (lambda: rnnkit.GRUCell(3, 2, reset_after=False), r"applies r before W_hn"),
    (lambda: rnnkit.LSTM(3, 2, peephole=True), r"peephole weights"),
    (lambda: rnnkit.GRU(3, 2, zoneout=0.1), r"zoneout=\(0\.1, 0\.0\) mixes in the previous state"),
    (lambda: rnnkit.LSTM(3, 2).clamp_gates(f=1.0), r"gates clamped to \{'f': 1\.0\}"),
]


@pytest.mark.parametrize(
    "make,reason",
    VARIANTS_WITHOUT_TORCH,
    ids=[
        "GRU-reset_after=False",
        "GRU-reset_gate=False",
        "MGU",
        "GRUCell-reset_after=False",
        "LSTM-peephole",
        "GRU-zoneout",
        "LSTM-clamped",
    ],
)
def test_variants_pytorch_lacks_are_refused(make, reason, tmp_path):
    layer = make()
    with pytest.raises(ValueError, match=reason + ".*allow_variants=True"):
        to_torch_state_dict(layer)
    with pytest.raises(ValueError, match=reason):
        from_torch_state_dict(layer, layer.state_dict())
    with pytest.raises(ValueError, match=reason):
        save_torch_safetensors(layer, tmp_path / "v.safetensors")
    with pytest.raises(ValueError, match="cannot build a torch.nn module.*" + reason):
        torch_module(layer)
    sd = to_torch_state_dict(layer, allow_variants=True)  # the escape hatch works
    from_torch_state_dict(layer, sd, allow_variants=True)
    assert set(sd) == set(layer.params)


def test_no_torch_import_at_module_import():
    code = "import sys, rnnkit.interop.torch, rnnkit.interop; print('torch' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(rnnkit.__file__))),
    ).stdout
    assert out.split() == ["False", "False"]


def test_docs_example_runs(tmp_path, monkeypatch):
    text = (REPO_ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "interop.torch" in b]
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, "docs/interop.md", "exec"), scope)
    assert (tmp_path / "lstm.safetensors").exists() and type(scope["module"]).__name__ == "LSTM"


def test_docstring_examples_run():
    result = doctest.testmod(interop, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0
