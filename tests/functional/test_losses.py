import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rnnkit.losses as losses_module
from rnnkit import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.losses import REDUCTIONS, bits_per_char, cross_entropy, perplexity

from helpers import assert_close

T, B, V = 4, 3, 5


def make_case(rng, dtype=np.float64, *, scale=2.0):
    logits = (rng.standard_normal((T, B, V)) * scale).astype(dtype)
    targets = rng.integers(0, V, size=(T, B))
    return logits, targets


def torch_reference(
    logits, targets, *, ignore_index=-100, mask=None, label_smoothing=0.0, reduction="mean", batch_first=False
):
    """The same loss built from F.cross_entropy(reduction='none'), differentiated by autograd."""
    lt = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(targets)
    if mask is not None:  # a masked position is an ignored one
        tt = torch.where(torch.tensor(mask, dtype=torch.bool), tt, torch.full_like(tt, ignore_index))
    V_ = logits.shape[-1]
    per = F.cross_entropy(
        lt.reshape(-1, V_), tt.reshape(-1), ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none"
    ).reshape(tt.shape)
    real = (tt != ignore_index).to(per.dtype)
    if reduction in ("mean", "sum", "none") and mask is None:
        loss = F.cross_entropy(
            lt.reshape(-1, V_),
            tt.reshape(-1),
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
        if reduction == "none":
            loss = loss.reshape(tt.shape)
    elif reduction == "mean":
        loss = per.sum() / real.sum()
    elif reduction == "sum":
        loss = per.sum()
    elif reduction == "none":
        loss = per
    else:
        time_axis = 1 if batch_first else 0
        if reduction == "sum_over_time_mean_over_batch":
            loss = per.sum(dim=time_axis).mean()
        else:
            n_b = real.sum(dim=time_axis)
            has = n_b > 0
            loss = (per.sum(dim=time_axis)[has] / n_b[has]).mean()
    loss.sum().backward()  # for "none": the gradient of the summed losses, position by position
    return loss.detach().numpy(), lt.grad.numpy()


def excluded_mask(rng):
    mask = rng.random((T, B)) > 0.3
    mask[:, 0] = True
    mask[:, 1] = False  # a whole sequence masked out
    return mask


CASES = [
    dict(),
    dict(label_smoothing=0.2),
    dict(ignore_index=-100, label_smoothing=0.1, with_ignored=True),
    dict(mask=True),
    dict(mask=True, label_smoothing=0.3, with_ignored=True),
]


def build(rng, case, dtype=np.float64):
    logits, targets = make_case(rng, dtype)
    kwargs = {k: v for k, v in case.items() if k not in ("mask", "with_ignored")}
    if case.get("with_ignored"):
        targets[1, 2] = targets[3, 0] = -100
    if case.get("mask"):
        kwargs["mask"] = excluded_mask(rng)
        targets[~kwargs["mask"]] = 999  # targets under the mask are never read
    return logits, targets, kwargs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c) or "plain")
def test_gradient_matches_finite_differences(reduction, case):
    rng = np.random.default_rng(0)
    logits, targets, kwargs = build(rng, case)
    P = rng.standard_normal((T, B))  # projection for "none"; scalar reductions use the loss itself

    def f():
        loss, _ = cross_entropy(logits, targets, reduction=reduction, **kwargs)
        return float(np.sum(P * loss)) if reduction == "none" else loss

    loss, dlogits = cross_entropy(logits, targets, reduction=reduction, **kwargs)
    if reduction == "none":
        dlogits = dlogits * P[..., None]
    assert_gradient_close("logits", dlogits, numerical_gradient(f, logits))


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c) or "plain")
def test_parity_with_torch(dtype, atol, reduction, case):
    rng = np.random.default_rng(1)
    logits, targets, kwargs = build(rng, case, dtype)
    loss, dlogits = cross_entropy(logits, targets, reduction=reduction, **kwargs)
    ref_loss, ref_grad = torch_reference(logits, targets, reduction=reduction, **kwargs)
    assert dlogits.dtype == dtype and dlogits.shape == logits.shape
    if reduction == "none":
        assert loss.dtype == dtype and loss.shape == (T, B)
    else:
        assert isinstance(loss, float)
    assert_close("loss", loss, ref_loss, atol)
    assert_close("dlogits", dlogits, ref_grad, atol)


@pytest.mark.parametrize("reduction", ["sum_over_time_mean_over_batch", "mean_over_time_mean_over_batch"])
def test_sequence_reductions_batch_first(reduction):
    rng = np.random.default_rng(2)
    logits, targets, kwargs = build(rng, dict(mask=True, label_smoothing=0.1))
    moved = dict(kwargs, mask=kwargs["mask"].T)
    loss_tm, d_tm = cross_entropy(logits, targets, reduction=reduction, **kwargs)
    loss_bf, d_bf = cross_entropy(
        logits.transpose(1, 0, 2).copy(), targets.T.copy(), reduction=reduction, batch_first=True, **moved
    )
    ref_loss, ref_grad = torch_reference(
        logits.transpose(1, 0, 2).copy(), targets.T.copy(), reduction=reduction, batch_first=True, **moved
    )
    assert loss_bf == pytest.approx(loss_tm, abs=1e-12)
    np.testing.assert_allclose(d_bf, d_tm.transpose(1, 0, 2), rtol=0, atol=1e-12)
    np.testing.assert_allclose(loss_bf, ref_loss, rtol=0, atol=1e-10)
    np.testing.assert_allclose(d_bf, ref_grad, rtol=0, atol=1e-10)


def test_sequence_reductions_by_hand():
    # two sequences of lengths 2 and 1 (T=2), uniform logits over 4 classes: every real step costs log 4
    logits = np.zeros((2, 2, 4))
    targets = np.array([[0, 1], [2, -100]])
    total = 3 * math.log(4)
    assert cross_entropy(logits, targets, reduction="sum")[0] == pytest.approx(total)
    assert cross_entropy(logits, targets, reduction="mean")[0] == pytest.approx(total / 3)
    assert cross_entropy(logits, targets, reduction="sum_over_time_mean_over_batch")[0] == pytest.approx(total / 2)
    assert cross_entropy(logits, targets, reduction="mean_over_time_mean_over_batch")[0] == pytest.approx(math.log(4))
    # with unequal per-sequence means the two sequence reductions differ from "mean"
    logits[0, 1, 1] = 3.0
    per = cross_entropy(logits, targets, reduction="none")[0]
    expected = 0.5 * ((per[0, 0] + per[1, 0]) / 2 + per[0, 1])
    assert cross_entropy(logits, targets, reduction="mean_over_time_mean_over_batch")[0] == pytest.approx(expected)
    assert per[1, 1] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_extreme_logits_are_finite(dtype, label_smoothing):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    targets = np.array([1, 2, 0])
    loss, d = cross_entropy(logits, targets, label_smoothing=label_smoothing, reduction="none")
    assert np.isfinite(loss).all() and np.isfinite(d).all()
    ref_loss, ref_grad = torch_reference(
        logits.astype(np.float64), targets, label_smoothing=label_smoothing, reduction="none"
    )
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(d, ref_grad, atol=1e-6)
    if label_smoothing == 0.0:
        assert loss[0] == pytest.approx(2e4) and loss[1] == pytest.approx(math.log(3))


@pytest.mark.parametrize("V_", [2, 7, 1000])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.4])
def test_uniform_logits_give_log_V(V_, label_smoothing):
    logits = np.full((3, 2, V_), 1.5, dtype=np.float32)
    targets = np.random.default_rng(V_).integers(0, V_, size=(3, 2))
    loss, _ = cross_entropy(logits, targets, label_smoothing=label_smoothing)
    assert loss == pytest.approx(math.log(V_), rel=1e-6)
    assert perplexity(loss) == pytest.approx(V_, rel=1e-5)


def test_everything_excluded_gives_nan_mean_and_zero_gradient_like_torch():
    logits = np.random.default_rng(3).standard_normal((2, 3, 4))
    targets = np.full((2, 3), -100)
    for reduction in ("mean", "mean_over_time_mean_over_batch"):
        loss, d = cross_entropy(logits, targets, reduction=reduction)
        assert math.isnan(loss) and not d.any()
    ref = F.cross_entropy(torch.tensor(logits).reshape(-1, 4), torch.tensor(targets).reshape(-1))
    assert math.isnan(ref.item())
    loss, d = cross_entropy(logits, targets, reduction="sum")
    assert loss == 0.0 and not d.any()


def test_no_grad_skips_the_gradient_and_input_is_untouched():
    rng = np.random.default_rng(4)
    logits, targets = make_case(rng)
    before = logits.copy()
    with no_grad():
        loss, d = cross_entropy(logits, targets)
    assert d is None and loss == pytest.approx(cross_entropy(logits, targets)[0], abs=1e-15)
    np.testing.assert_array_equal(logits, before)


def test_two_dimensional_and_unbatched_logits():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, V))
    targets = rng.integers(0, V, size=6)
    loss, d = cross_entropy(logits, targets, reduction="sum")
    ref_loss, ref_grad = torch_reference(logits, targets, reduction="sum")
    np.testing.assert_allclose(loss, ref_loss, atol=1e-12)
    np.testing.assert_allclose(d, ref_grad, atol=1e-12)
    loss1, d1 = cross_entropy(logits[2], targets[2])
    assert loss1 == pytest.approx(cross_entropy(logits[2:3], targets[2:3])[0], abs=1e-14)
    assert d1.shape == (V,)


def test_perplexity_and_bits_per_char():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65)) == pytest.approx(65)
    assert perplexity(1e4) == math.inf
    np.testing.assert_allclose(perplexity(np.log([2.0, 10.0])), [2.0, 10.0])
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(math.log(256)) == pytest.approx(8.0)
    with pytest.raises(TypeError, match=r"perplexity: mean_nll must be a real number .*, got str 'x'"):
        perplexity("x")


def test_bad_input_errors_name_argument_value_and_index():
    logits = np.zeros((3, 2, 4))
    good = np.zeros((3, 2), dtype=np.int64)
    bad = good.copy()
    bad[2, 1] = 4
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: targets must be in \[0, 4\) \(or equal ignore_index=-100\), "
        r"got 4 at index \(2, 1\)",
    ):
        cross_entropy(logits, bad)
    bad[2, 1] = -3
    with pytest.raises(ValueError, match=r"got -3 at index \(2, 1\)"):
        cross_entropy(logits, bad)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 4\), got -100 at index \(0, 0\)"):
        cross_entropy(logits, np.full((3, 2), -100), ignore_index=None)
    with pytest.raises(TypeError, match=r"cross_entropy: targets must hold integers .*, got dtype float64"):
        cross_entropy(logits, good.astype(np.float64))
    with pytest.raises(ValueError, match=r"cross_entropy: targets must have shape \(3, 2\) .*, got \(2, 3\)"):
        cross_entropy(logits, good.T)
    with pytest.raises(ValueError, match=r"cross_entropy: mask must hold only 0 and 1, got 0\.5 at index \(1, 0\)"):
        m = np.ones((3, 2))
        m[1, 0] = 0.5
        cross_entropy(logits, good, mask=m)
    with pytest.raises(ValueError, match=r"mask must have shape \(3, 2\) .*, got \(3,\)"):
        cross_entropy(logits, good, mask=np.ones(3))
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be one of .*, got 'avg'"):
        cross_entropy(logits, good, reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\], got 1\.5"):
        cross_entropy(logits, good, label_smoothing=1.5)
    with pytest.raises(
        ValueError,
        match=r"logits must have shape \(T, B, V\) for reduction="
        r"'sum_over_time_mean_over_batch', got \(6, 4\)",
    ):
        cross_entropy(np.zeros((6, 4)), np.zeros(6, dtype=int), reduction="sum_over_time_mean_over_batch")
    with pytest.raises(TypeError, match=r"cross_entropy: logits must be float32 or float64, got dtype int64"):
        cross_entropy(np.zeros((3, 4), dtype=np.int64), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"cross_entropy: logits must be finite, got nan at index \(1, 1, 3\)"):
        bad_logits = logits.copy()
        bad_logits[1, 1, 3] = np.nan
        cross_entropy(bad_logits, good)
    with pytest.raises(TypeError, match=r"cross_entropy: ignore_index must be an int or None, got float -1\.0"):
        cross_entropy(logits, good, ignore_index=-1.0)


def test_masked_or_ignored_targets_are_not_checked():
    logits = np.zeros((2, 2, 3))
    targets = np.array([[0, 77], [-5, 2]])
    loss, _ = cross_entropy(logits, targets, mask=np.array([[1, 0], [0, 1]]))
    assert loss == pytest.approx(math.log(3))


def test_docstring_examples_run():
    result = doctest.testmod(losses_module)
    assert result.attempted > 0 and result.failed == 0
