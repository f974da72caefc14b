import doctest

import numpy as np
import pytest
import torch

import rnnkit.layers.embedding as embedding_module
from rnnkit import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers.embedding import Embedding, embedding_backward, embedding_forward

from helpers import assert_close


def reference_scatter(ids, dy, V, padding_idx):
    out = np.zeros((V, dy.shape[-1]), dtype=np.float64)
    for i, row in zip(ids.reshape(-1), dy.reshape(-1, dy.shape[-1])):
        if i != padding_idx:
            out[i] += row
    return out


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_gradient_matches_finite_differences(padding_idx):
    rng = np.random.default_rng(0)
    emb = Embedding(6, 3, padding_idx=padding_idx, dtype=np.float64, seed=1)
    emb.weight[...] = rng.standard_normal(emb.weight.shape)  # padding row non-zero too: it must still get no grad
    ids = np.array([[0, 2, 5], [5, 1, 2], [3, 5, 0], [2, 2, 4]])  # (T, B) with repeats and padding
    P = rng.standard_normal((4, 3, 3))
    emb.forward(ids)
    emb.backward(P)
    numeric = numerical_gradient(lambda: float(np.sum(P * emb.forward(ids))), emb.weight)
    if padding_idx is None:
        assert_gradient_close("weight", emb.grads["weight"], numeric)
    else:
        rows = [v for v in range(6) if v != padding_idx]
        assert_gradient_close("weight", emb.grads["weight"][rows], numeric[rows])
        assert not emb.grads["weight"][padding_idx].any()
        assert np.abs(numeric[padding_idx]).max() > 0.1  # the row is used, so only the rule keeps it at zero


@pytest.mark.parametrize("V", [7, 300])  # both scatter paths: one-hot product and np.add.at
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_scatter_paths_match_reference(V, padding_idx):
    rng = np.random.default_rng(V)
    ids = rng.integers(0, V, size=(9, 4))
    ids[0, :] = V - 1
    ids[1, :2] = 0
    dy = rng.standard_normal((9, 4, 5))
    dw = embedding_backward(dy, (ids, (V, 5), None if padding_idx is None else padding_idx % V))
    np.testing.assert_allclose(
        dw, reference_scatter(ids, dy, V, None if padding_idx is None else padding_idx % V), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("V, padding_idx", [(11, 3), (11, None), (400, -2)])
def test_parity_with_torch(dtype, atol, V, padding_idx):
    rng = np.random.default_rng(3)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    ref = torch.nn.Embedding(V, 5, padding_idx=padding_idx, dtype=tdtype)
    emb = Embedding(V, 5, padding_idx=padding_idx, dtype=dtype, seed=0)
    assert emb.padding_idx == ref.padding_idx
    emb.load_state_dict(ref.state_dict())
    ids = rng.integers(0, V, size=(6, 3))
    if padding_idx is not None:
        ids[::2, 1] = padding_idx % V
    ids[1] = ids[0]  # repeats
    P = rng.standard_normal((6, 3, 5)).astype(dtype)
    yt = ref(torch.tensor(ids))
    (yt * torch.tensor(P)).sum().backward()
    y = emb.forward(ids)
    assert emb.backward(P) is None
    assert y.dtype == dtype and emb.grads["weight"].dtype == dtype
    assert_close("y", y, yt.detach().numpy(), atol)
    assert_close('emb.grads["weight"]', emb.grads["weight"], ref.weight.grad.numpy(), atol)


def test_init_shapes_padding_row_and_seed():
    emb = Embedding(2000, 50, padding_idx=-1, dtype=np.float64, seed=4)
    assert list(emb.params) == list(torch.nn.Embedding(3, 2).state_dict()) == ["weight"]
    assert emb.params["weight"].shape == (2000, 50)
    assert emb.padding_idx == 1999 and not emb.weight[1999].any()
    assert abs(emb.weight.mean()) < 0.01 and abs(emb.weight.std() - 1.0) < 0.01  # N(0, 1)
    np.testing.assert_array_equal(Embedding(5, 3, seed=9).weight, Embedding(5, 3, seed=9).weight)
    assert Embedding(5, 3).weight.dtype == np.float32


def test_forward_any_id_shape_and_integer_dtype():
    emb = Embedding(10, 4, seed=0)
    for ids in (np.array(3), np.arange(5, dtype=np.uint8), np.ones((2, 3, 4), dtype=np.int32)):
        y = emb.forward(ids)
        assert y.shape == ids.shape + (4,)
        np.testing.assert_array_equal(y, emb.weight[ids])
    assert emb.forward([1, 2]).shape == (2, 4)


def test_cache_is_not_changed_by_caller_reusing_the_id_buffer():
    emb = Embedding(5, 2, dtype=np.float64, seed=0)
    ids = np.array([1, 1, 3])
    emb.forward(ids)
    ids[:] = 4
    emb.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(emb.grads["weight"][:, 0], [0, 2, 0, 1, 0])


def test_plain_functions_match_layer():
    emb = Embedding(8, 3, padding_idx=1, dtype=np.float64, seed=0)
    ids = np.array([[1, 2], [7, 2]])
    dy = np.random.default_rng(0).standard_normal((2, 2, 3))
    y, cache = embedding_forward(ids, emb.weight, 1)
    np.testing.assert_array_equal(y, emb.forward(ids))
    emb.backward(dy)
    np.testing.assert_array_equal(embedding_backward(dy, cache), emb.grads["weight"])


def test_bad_input_errors_name_argument_value_and_index():
    emb = Embedding(10, 4)
    with pytest.raises(ValueError, match=r"Embedding\.forward: ids must be in \[0, 10\), got 12 at index \(1, 2\)"):
        emb.forward(np.array([[0, 1, 2], [3, 4, 12]]))
    with pytest.raises(ValueError, match=r"ids must be in \[0, 10\), got -1 at index \(0,\)"):
        emb.forward(np.array([-1, 0]))
    with pytest.raises(TypeError, match=r"Embedding\.forward: ids must hold integers, got dtype float64"):
        emb.forward(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"ids must hold integers, got dtype bool"):
        emb.forward(np.array([True]))
    with pytest.raises(TypeError, match=r"ids must be a numpy array of integers, got str"):
        emb.forward("3")
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be in \[-10, 10\), got 10"):
        Embedding(10, 4, padding_idx=10)
    with pytest.raises(TypeError, match=r"Embedding: padding_idx must be an int or None, got float 1\.0"):
        Embedding(10, 4, padding_idx=1.0)
    with pytest.raises(ValueError, match=r"Embedding: embedding_dim must be >= 1, got 0"):
        Embedding(10, 0)
    with pytest.raises(TypeError, match=r"Embedding: dtype must be float32 or float64, got float16"):
        Embedding(10, 4, dtype=np.float16)
    emb.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"Embedding\.backward: dy must have shape \(2, 3, 4\), got \(2, 3\)"):
        emb.backward(np.zeros((2, 3)))


def test_backward_before_forward_or_after_no_grad_raises():
    emb = Embedding(4, 2)
    with pytest.raises(RuntimeError, match=r"Embedding\.backward: no cached forward pass"):
        emb.backward(np.zeros((1, 2)))
    with no_grad():
        emb.forward(np.array([1]))
    with pytest.raises(RuntimeError, match=r"no_grad"):
        emb.backward(np.zeros((1, 2)))


def test_docstring_examples_run():
    result = doctest.testmod(embedding_module)
    assert result.attempted > 0 and result.failed == 0
