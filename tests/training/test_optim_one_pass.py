"""SGD's compiled one-pass update and ``step(grad_scale=...)``: the same weights as the NumPy update, bit for bit.

The reference is the NumPy composition the Trainer used before the factor was folded in: every gradient
scaled in place (``g *= s``, as ``clip_grad_norm`` does), then ``step()`` on the NumPy backend.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from training.test_optim import CASES, IDS, SHAPES, grad_sequence, make_params

from rnnkit import _kernels, optim
from rnnkit.clip import clip_grad_norm
from rnnkit.module import Module
from rnnkit.protocols import StepResult
from rnnkit.trainer import Trainer, TrainerConfig

needs_c = pytest.mark.skipif(not _kernels.available("c"), reason=str(_kernels.why_unavailable("c")))


def _reference(name, kw, params, grad_seq, scales):
    """g *= s, then step(), on the NumPy backend."""
    with _kernels.use("numpy"):
        opt = getattr(optim, name)(params, {k: np.zeros_like(p) for k, p in params.items()}, **kw)
        for g, s in zip(grad_seq, scales):
            for k in opt.grads:
                opt.grads[k][...] = g[k]
                opt.grads[k] *= s
            opt.step()
    return opt


def _folded(name, kw, params, grad_seq, scales, backend):
    with _kernels.use(backend):
        opt = getattr(optim, name)(params, {k: np.zeros_like(p) for k, p in params.items()}, **kw)
        for g, s in zip(grad_seq, scales):
            for k in opt.grads:
                opt.grads[k][...] = g[k]
            opt.step(grad_scale=s)
    return opt


SCALES = [1.0, 0.37, 1.0, 0.9999, 0.05, 1.0, 0.5, 1.0]


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_grad_scale_gives_the_weights_of_scaling_then_stepping(name, kw, dtype, backend):
    seq = grad_sequence(dtype, n=len(SCALES))
    ref = _reference(name, kw, make_params(dtype), seq, SCALES)
    got = _folded(name, kw, make_params(dtype), seq, SCALES, backend)
    for k in SHAPES:
        np.testing.assert_array_equal(got.params[k], ref.params[k], err_msg=f"{name} {kw} {k}")
    for k, bufs in ref.state.items():
        for b, a in bufs.items():
            np.testing.assert_array_equal(got.state[k][b], a, err_msg=f"{name} {kw} {k} {b}")


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, (1 << 21) + 5], ids=lambda n: f"n{n}")
def test_compiled_sgd_pass_equals_numpy_and_returns_the_sum_of_squares(dtype, n):
    """Sizes around the 16 lanes and above the 2**20 weights per thread, so the tails and the split run."""
    rng = np.random.default_rng(n)
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    expected = p.copy()
    gs = g.copy()
    gs *= 0.3
    expected -= gs * 0.7
    g_before = g.copy()
    ssq = _kernels.get_backend("c").update.sgd(p, g, 0.3, 0.7)
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(g, g_before)  # left unscaled
    ref = float(np.dot(expected.astype(np.float64), expected.astype(np.float64)))
    # summed in 16 lanes in the weights' dtype (as BLAS's dot sums): the recursive-summation bound of a lane
    unit = np.finfo(dtype).eps / 2
    assert math.isclose(ssq, ref, rel_tol=max(16, n / 16) * unit)


@needs_c
def test_sum_of_squares_overflows_where_the_dtype_does():
    p = np.full(4, 3e19, np.float32)  # finite, but 9e38 > float32 max
    ssq = _kernels.get_backend("c").update.sgd(p, np.zeros(4, np.float32), 1.0, 0.1)
    assert not ssq <= np.finfo(np.float32).max
    p = np.array([1.0, np.nan], np.float64)
    assert math.isnan(_kernels.get_backend("c").update.sgd(p, np.zeros(2), 1.0, 0.1))


@needs_c
def test_one_pass_reports_sums_of_squares_and_others_do_not():
    params = make_params(np.float32)
    with _kernels.use("c"):
        opt = optim.SGD(params, {k: np.ones_like(p) for k, p in params.items()}, lr=0.1)
        opt.step()
        assert set(opt.weight_sumsq) == set(SHAPES)
        for k, p in params.items():
            assert math.isclose(opt.weight_sumsq[k], float(np.vdot(p, p)), rel_tol=1e-5)
        momentum = optim.SGD(params, opt.grads, lr=0.1, momentum=0.9)
        momentum.step()
        assert momentum.weight_sumsq is None  # the NumPy update: the Trainer counts the squares itself
    with _kernels.use("numpy"):
        opt.step()
        assert opt.weight_sumsq is None


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, True, "1"])
def test_grad_scale_is_validated(bad):
    params = make_params(np.float64)
    opt = optim.SGD(params, {k: np.zeros_like(p) for k, p in params.items()}, lr=0.1)
    with pytest.raises((TypeError, ValueError), match="SGD: grad_scale must be"):
        opt.step(grad_scale=bad)
    assert opt.step_count == 0


class _Quadratic(Module):
    """Two weights and a gradient large enough to be clipped at every third step."""

    def __init__(self, dtype):
        super().__init__()
        rng = np.random.default_rng(3)
        self.register_parameter("a", rng.standard_normal((40, 30)).astype(dtype))
        self.register_parameter("b", rng.standard_normal(30).astype(dtype))
        self.calls = 0

    def initial_state(self, batch):
        return None

    def train_step(self, batch, state):
        self.calls += 1
        scale = 20.0 if self.calls % 3 == 0 else 0.1  # every third step is clipped at 5
        for k, p in self.params.items():
            self.grads[k] += scale * (p - 0.5)
        return StepResult(float(sum(np.sum(p * p) for p in self.params.values())), 1)

    def eval_step(self, batch, state):
        return StepResult(0.0, 1)

    def config(self):
        return {"kind": "quadratic"}


class _Steps:
    stateful = False

    def __len__(self):
        return 12

    def batch(self, epoch, index):
        return index


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kw", [{"lr": 0.05}, {"lr": 0.05, "momentum": 0.9}], ids=["plain", "momentum"])
def test_trainer_clipping_folded_into_the_step_equals_clipping_in_place(kw, dtype, backend):
    """The Trainer hands the clipping factor to step(grad_scale=); the weights are those of the plain
    loop zero_grad / train_step / clip_grad_norm / step() on the NumPy backend, bit for bit."""
    ref = _Quadratic(dtype)
    with _kernels.use("numpy"):
        opt = optim.SGD(ref.params, ref.grads, **kw)
        for i in range(12):
            ref.zero_grad()
            ref.train_step(i, None)
            clip_grad_norm(ref.grads, 5.0)
            opt.step()
    model = _Quadratic(dtype)
    with _kernels.use(backend):
        opt = optim.SGD(model.params, model.grads, **kw)
        result = Trainer(model, opt, TrainerConfig(epochs=1, clip_norm=5.0, progress=False)).fit(_Steps())
    assert result.steps == 12
    for k in ref.params:
        np.testing.assert_array_equal(model.params[k], ref.params[k])
