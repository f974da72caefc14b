"""The fused output layer: bit-identical to the unfused reference, equal to PyTorch, gradients by differences."""

import numpy as np
import pytest
import torch

from rnnkit import _kernels
from rnnkit.grad_mode import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers.output import output_backward, output_backward_into, output_forward, output_reference

from helpers import assert_close


def case(N=37, E=5, V=23, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, E)).astype(dtype)
    W = rng.normal(size=(V, E)).astype(dtype)
    b = rng.normal(size=V).astype(dtype)
    y = rng.integers(0, V, size=N)
    return x, W, b, y, rng


VARIANTS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.1},
    "mask": {"real": "mask"},
    "ignore_index": {"ignore_index": -100},
    "mask+ignore+smoothing": {"real": "mask", "ignore_index": -100, "label_smoothing": 0.25},
}
SCALES = {"sum": 1.0, "token_mean": "count", "batch_mean": 1 / 4}


def _kwargs(variant, y, rng):
    kw = dict(VARIANTS[variant])
    if kw.get("real") == "mask":
        kw["real"] = rng.random(y.shape[0]) < 0.7
    if "ignore_index" in kw:
        y = y.copy()
        y[rng.random(y.shape[0]) < 0.2] = -100
    return kw, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("objective", list(SCALES))
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("chunk_rows", [None, 1, 5, 1000])
def test_fused_equals_the_reference_bit_for_bit(dtype, bias, objective, variant, chunk_rows):
    """The NumPy path (float64 on every backend; float32 where no compiled kernel runs it)."""
    x, W, b, y, rng = case(dtype=dtype)
    b = b if bias else None
    kw, y = _kwargs(variant, y, rng)
    count = output_reference(x, W, b, y, **kw)[1]
    scale = 1.0 / max(count, 1) if SCALES[objective] == "count" else SCALES[objective]
    loss_r, count_r, z_r, dx_r, dW_r, db_r = output_reference(x, W, b, y, grad_scale=scale, **kw)
    with _kernels.use("numpy" if dtype == np.float32 else _kernels.backend()):
        loss, count, cache = output_forward(x, W, b, y, grad_scale=scale, chunk_rows=chunk_rows, **kw)
        dx, dW, db = output_backward(cache)
    assert loss == loss_r and count == count_r
    for name, ours, ref in (("dx", dx, dx_r), ("dW", dW, dW_r), ("db", db, db_r)):
        if ref is None:
            assert ours is None
            continue
        assert ours.dtype == ref.dtype, name
        np.testing.assert_array_equal(ours, ref, err_msg=name)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("objective", list(SCALES))
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_accumulating_backward_equals_the_reference(bias, objective, variant, backend):
    """output_backward_into adds what output_backward returns: bit for bit in float64 on every backend;
    in float32, the compiled kernels (softmax rows, dW and db summed into the accumulators) agree
    with the float64 reference to float32 rounding."""
    if backend == "c" and not _kernels.available("c"):
        pytest.skip(_kernels.why_unavailable("c"))
    for dtype in (np.float64, np.float32):
        x, W, b, y, rng = case(N=45, E=7, V=300, dtype=dtype, seed=3)
        b = b if bias else None
        kw, y = _kwargs(variant, y, rng)
        count = output_reference(x, W, b, y, **kw)[1]
        scale = 1.0 / max(count, 1) if SCALES[objective] == "count" else SCALES[objective]
        x64, W64, b64 = (None if a is None else a.astype(np.float64) for a in (x, W, b))
        loss_r, _, _, dx_r, dW_r, db_r = output_reference(x64, W64, b64, y, grad_scale=scale, **kw)
        start_W = rng.normal(size=W.shape).astype(dtype)  # accumulators that already hold something
        start_b = rng.normal(size=W.shape[0]).astype(dtype)
        dW, db = start_W.copy(), start_b.copy()
        with _kernels.use(backend):
            loss, count, cache = output_forward(x, W, b, y, grad_scale=scale, **kw)
            dx = output_backward_into(cache, dW, db if bias else None)
        if dtype == np.float64:
            assert loss == loss_r
            np.testing.assert_array_equal(dx, dx_r)
            np.testing.assert_array_equal(dW, start_W + dW_r)
            np.testing.assert_array_equal(db, start_b + db_r if bias else start_b)
        else:
            assert_close("loss", np.float32(loss), np.float64(loss_r), 1e-5)
            assert_close("dx", dx, dx_r, 1e-5)
            assert_close("dW", dW - start_W, dW_r, 1e-5)
            assert_close("db", db - start_b, db_r if bias else np.zeros(W.shape[0]), 1e-5)


def test_compiled_rows_reject_a_target_outside_the_vocabulary_but_never_read_excluded_ones():
    if not _kernels.available("c"):
        pytest.skip(_kernels.why_unavailable("c"))
    x, W, b, y, rng = case(dtype=np.float32)
    with _kernels.use("c"):
        bad = y.copy()
        bad[3] = W.shape[0]
        with pytest.raises(IndexError, match="targets"):
            output_forward(x, W, b, bad)
        bad[3] = -100  # an ignored row: its target is never read
        loss, count, cache = output_forward(x, W, b, bad, ignore_index=-100)
    assert count == x.shape[0] - 1 and not cache[1][3].any()


def test_the_fused_gradient_is_the_reference_gradient_of_the_logits():
    x, W, b, y, rng = case()
    real = rng.random(y.shape[0]) < 0.6
    from rnnkit.losses import cross_entropy

    z = x @ W.T + b
    _, dz_ref = cross_entropy(z, y, mask=real, ignore_index=None, label_smoothing=0.2, reduction="sum")
    _, _, cache = output_forward(x, W, b, y, real=real, label_smoothing=0.2, chunk_rows=4)
    np.testing.assert_array_equal(cache[1], dz_ref)
    assert not cache[1][~real].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_reused_logits_buffer_changes_nothing(dtype):
    x, W, b, y, rng = case(dtype=dtype)
    buf = np.full((x.shape[0], W.shape[0]), np.nan, dtype=dtype)
    # a fresh logits array on the same path (the NumPy one, or the compiled one for float32)
    loss_r, _, fresh = output_forward(x, W, b, y, label_smoothing=0.1, grad_scale=0.25)
    dx_r, dW_r, db_r = output_backward(fresh)
    for _ in range(2):  # the second pass starts from the first one's dz in the buffer
        loss, _, cache = output_forward(x, W, b, y, label_smoothing=0.1, grad_scale=0.25, out=buf)
        assert cache[1] is buf and loss == loss_r
        for ours, ref in zip(output_backward(cache), (dx_r, dW_r, db_r)):
            np.testing.assert_array_equal(ours, ref)
    wrong = np.empty((x.shape[0], W.shape[0] + 1), dtype=dtype)  # the wrong shape: not used
    assert output_forward(x, W, b, y, out=wrong)[2][1] is not wrong


def test_no_grad_gives_the_same_loss_and_keeps_no_cache():
    x, W, b, y, _ = case()
    loss, count, _ = output_forward(x, W, b, y, label_smoothing=0.1)
    with no_grad():
        loss2, count2, cache = output_forward(x, W, b, y, label_smoothing=0.1)
        loss_r, *_, dx = output_reference(x, W, b, y, label_smoothing=0.1)
    assert cache is None and dx is None
    assert loss2 == loss == loss_r and count2 == count == y.shape[0]


@pytest.mark.parametrize("eps,ignore", [(0.0, False), (0.3, True)])
def test_loss_and_gradients_equal_torch(eps, ignore):
    x, W, b, y, rng = case(N=29, E=6, V=17, seed=3)
    if ignore:
        y[rng.random(29) < 0.3] = -100
    n_real = int((y != -100).sum())
    loss, count, cache = output_forward(x, W, b, y, ignore_index=-100, label_smoothing=eps, grad_scale=1 / n_real)
    dx, dW, db = output_backward(cache)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    tloss = torch.nn.functional.cross_entropy(
        tx @ tW.T + tb, torch.from_numpy(y), ignore_index=-100, label_smoothing=eps, reduction="sum"
    )
    (tloss / n_real).backward()
    assert count == n_real
    assert abs(loss - tloss.item()) < 1e-10
    for name, ours, t in (("x", dx, tx), ("W", dW, tW), ("b", db, tb)):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=0, atol=1e-12, err_msg=name)


def test_float32_equals_torch_float32():
    x, W, b, y, _ = case(N=64, E=16, V=300, dtype=np.float32, seed=4)
    loss, _, cache = output_forward(x, W, b, y, grad_scale=1 / 64)
    dx, dW, db = output_backward(cache)
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    tloss = torch.nn.functional.cross_entropy(tx @ tW.T + tb, torch.from_numpy(y), reduction="sum")
    (tloss / 64).backward()
    assert abs(loss - tloss.item()) < 1e-5 * abs(tloss.item())
    for name, ours, t in (("x", dx, tx), ("W", dW, tW), ("b", db, tb)):
        assert_close(name, ours, t.grad, 1e-5, peer="torch")


def test_gradients_by_finite_differences():
    x, W, b, y, rng = case(N=9, E=4, V=7, seed=5)
    real = np.ones(9, dtype=bool)
    real[[2, 6]] = False
    P = 0.7  # d objective / d loss

    def loss():
        return P * output_forward(x, W, b, y, real=real, label_smoothing=0.15, chunk_rows=2)[0]

    _, _, cache = output_forward(x, W, b, y, real=real, label_smoothing=0.15, grad_scale=P, chunk_rows=2)
    dx, dW, db = output_backward(cache)
    for name, analytic, p in (("x", dx, x), ("weight", dW, W), ("bias", db, b)):
        assert_gradient_close(name, analytic, numerical_gradient(loss, p))


def test_extreme_logits_stay_finite():
    x, W, b, y, _ = case(N=8, E=3, V=11)
    W *= 1e3  # logits of order +/-1e3 and beyond
    loss, _, cache = output_forward(x, W, b, y)
    dx, dW, db = output_backward(cache)
    assert np.isfinite(loss) and all(np.isfinite(a).all() for a in (dx, dW, db))


def test_the_module_example_runs():
    import doctest

    import rnnkit.layers.output as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
