"""Optimisers and lr schedules against torch.optim, state round trips, and input checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit import optim
from rnnkit.gradcheck import relative_error
from rnnkit.module import Module
from rnnkit.schedules import CosineAnnealing, ReduceLROnPlateau, StepDecay

SHAPES = {"weight_ih_l0": (8, 3), "weight_hh_l0": (8, 2), "bias_ih_l0": (8,), "scale": (1,)}
STEPS = 20

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.05, "initial_accumulator_value": 0.2}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "alpha": 0.9, "eps": 1e-6}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "betas": (0.8, 0.99)}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]
IDS = [f"{name}-{'-'.join(k for k in kw if k != 'lr') or 'plain'}" for name, kw in CASES]


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def grad_sequence(dtype, n=STEPS, seed=1):
    """Random gradients whose scale varies from step to step, so AMSGrad's max matters."""
    rng = np.random.default_rng(seed)
    return [
        {k: (rng.standard_normal(s) * rng.uniform(0.1, 3.0)).astype(dtype) for k, s in SHAPES.items()} for _ in range(n)
    ]


def run_ours(name, kw, params, grad_seq, opt=None, lr_halved_at=10):
    if opt is None:
        opt = getattr(optim, name)(params, {k: np.zeros_like(p) for k, p in params.items()}, **kw)
    grads = opt.grads
    for g in grad_seq:
        if opt.step_count == lr_halved_at:
            opt.lr = opt.lr * 0.5
        for k in grads:
            grads[k][...] = g[k]
        opt.step()
    return opt


def run_torch(name, kw, params, grad_seq, lr_halved_at=10):
    tparams = {k: torch.tensor(p, requires_grad=True) for k, p in params.items()}
    opt = getattr(torch.optim, name)(list(tparams.values()), **kw)
    for i, g in enumerate(grad_seq):
        if i == lr_halved_at:
            opt.param_groups[0]["lr"] *= 0.5
        for k, t in tparams.items():
            t.grad = torch.tensor(g[k])
        opt.step()
    return {k: t.detach().numpy() for k, t in tparams.items()}


# -- parity with torch.optim -------------------------------------------------------------------
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)], ids=["f64", "f32"])
def test_matches_torch_after_20_steps(name, kw, dtype, tol):
    params = make_params(dtype)
    start = {k: p.copy() for k, p in params.items()}
    live = dict(params)
    seq = grad_sequence(dtype)
    run_ours(name, kw, params, seq)
    expected = run_torch(name, kw, start, seq)
    for k in SHAPES:
        assert params[k] is live[k], f"{k} was rebound instead of updated in place"
        assert params[k].dtype == dtype
        assert not np.array_equal(params[k], start[k]), f"{k} did not move"
        err = relative_error(params[k], expected[k])
        assert err <= tol, f"{name} {kw} {k}: relative error {err:.2e} > {tol:.0e}"


def test_step_leaves_gradients_untouched():
    params = make_params(np.float64)
    grads = grad_sequence(np.float64, n=1)[0]
    before = {k: g.copy() for k, g in grads.items()}
    opt = optim.Adam(params, grads, weight_decay=0.1)
    opt.step()
    opt.step()
    for k in grads:
        assert np.array_equal(grads[k], before[k])


def test_mixed_dtypes_update_like_separate_optimisers():
    a32, a64 = make_params(np.float32), make_params(np.float64)
    g = grad_sequence(np.float64, n=3)
    mixed = {"a": a32["weight_ih_l0"].copy(), "b": a64["weight_hh_l0"].copy()}
    mixed_g = {"a": np.zeros_like(mixed["a"]), "b": np.zeros_like(mixed["b"])}
    solo = {"a": mixed["a"].copy()}, {"b": mixed["b"].copy()}
    solo_g = {"a": np.zeros_like(mixed["a"])}, {"b": np.zeros_like(mixed["b"])}
    opts = [optim.Adam(mixed, mixed_g), optim.Adam(solo[0], solo_g[0]), optim.Adam(solo[1], solo_g[1])]
    for step in g:
        for d in (mixed_g, *solo_g):
            for k in d:
                d[k][...] = step["weight_ih_l0" if k == "a" else "weight_hh_l0"]
        for o in opts:
            o.step()
    assert mixed["a"].dtype == np.float32 and mixed["b"].dtype == np.float64
    assert np.array_equal(mixed["a"], solo[0]["a"])
    assert np.array_equal(mixed["b"], solo[1]["b"])


class _Tiny(Module):
    def __init__(self):
        super().__init__()
        self.w = self.register_parameter("w", np.ones((2, 3)))


def test_works_on_a_module_and_zero_grad_is_in_place():
    m = _Tiny()
    w = m.params["w"]
    g = m.grads["w"]
    opt = optim.SGD(m.params, m.grads, lr=0.5)
    g += 2.0
    opt.step()
    assert m.params["w"] is w
    assert np.array_equal(m.params["w"], np.zeros((2, 3)))
    opt.zero_grad()
    assert m.grads["w"] is g and not g.any()


# -- state_dict --------------------------------------------------------------------------------
def _through_disk(state):
    """What a checkpoint does: arrays through safetensors, meta through strict JSON."""
    from safetensors.numpy import load, save

    arrays = load(save(state["arrays"])) if state["arrays"] else {}
    meta = json.loads(json.dumps(state["meta"], allow_nan=False))
    return {"arrays": arrays, "meta": meta}


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_resume_is_bit_identical(name, kw):
    seq = grad_sequence(np.float64)
    full = make_params(np.float64)
    run_ours(name, kw, full, seq)

    half = make_params(np.float64)
    opt = run_ours(name, kw, half, seq[:10], lr_halved_at=5)  # lr changed before the save
    state = _through_disk(opt.state_dict())

    resumed = {k: p.copy() for k, p in half.items()}
    grads = {k: np.zeros_like(p) for k, p in resumed.items()}
    # Other hyper-parameters on purpose: load_state_dict must restore them.
    fresh = getattr(optim, name)(resumed, grads, lr=123.0)
    fresh.load_state_dict(state)
    assert fresh.step_count == 10 and fresh.hyper == opt.hyper
    assert fresh.lr == opt.lr != kw["lr"]
    run_ours(name, kw, resumed, seq[10:], opt=fresh, lr_halved_at=-1)

    uninterrupted = make_params(np.float64)
    run_ours(name, kw, uninterrupted, seq, lr_halved_at=5)
    for k in SHAPES:
        assert np.array_equal(resumed[k], uninterrupted[k]), k
    assert not np.array_equal(full["weight_ih_l0"], uninterrupted["weight_ih_l0"])  # the lr change mattered


def test_state_dict_is_a_copy():
    params = make_params(np.float64)
    opt = run_ours("Adam", {}, params, grad_sequence(np.float64, n=2))
    state = opt.state_dict()
    state["arrays"]["scale.exp_avg"][...] = 99.0
    state["meta"]["hyper"]["lr"] = 5.0
    assert opt.state["scale"]["exp_avg"][0] != 99.0 and opt.lr == 1e-3


def _adam_and_state():
    params = make_params(np.float64)
    opt = run_ours("Adam", {}, params, grad_sequence(np.float64, n=3))
    return opt, opt.state_dict()


def _mutate(state, fn):
    state = {"arrays": dict(state["arrays"]), "meta": json.loads(json.dumps(state["meta"]))}
    fn(state)
    return state


@pytest.mark.parametrize(
    "fn,exc,match",
    [
        (lambda s: s["meta"].update(optimizer="SGD"), ValueError, "must come from Adam, got 'SGD'"),
        (lambda s: s["meta"].update(step=-1), ValueError, r"meta\['step'\] must be an int >= 0, got -1"),
        (lambda s: s["meta"]["params"].pop("scale"), ValueError, r"missing \['scale'\]"),
        (lambda s: s["meta"]["params"]["scale"].update(shape=[2]), ValueError, r"params\['scale'\] is float64 \(1,\)"),
        (lambda s: s["arrays"].pop("scale.exp_avg_sq"), ValueError, "arrays'] must have keys"),
        (
            lambda s: s["arrays"].update({"scale.exp_avg": np.zeros(1, np.float32)}),
            ValueError,
            "float64 \\(1,\\), got float32",
        ),
        (lambda s: s["arrays"].update({"scale.exp_avg": [0.0]}), TypeError, "must be a numpy array, got list"),
        (lambda s: s["meta"]["hyper"].update(lr=-1.0), ValueError, "Adam.load_state_dict: lr must be >= 0, got -1.0"),
        (lambda s: s["meta"]["hyper"].pop("eps"), ValueError, "hyper'] must have keys"),
        (lambda s: s.pop("meta"), TypeError, "keys 'arrays' and 'meta'"),
    ],
)
def test_load_state_dict_rejects_mismatches_and_changes_nothing(fn, exc, match):
    opt, good = _adam_and_state()
    before = opt.state_dict()
    with pytest.raises(exc, match=match):
        opt.load_state_dict(_mutate(good, fn))
    after = opt.state_dict()
    assert after["meta"] == before["meta"]
    assert all(np.array_equal(after["arrays"][k], before["arrays"][k]) for k in before["arrays"])


def test_load_state_dict_allocates_buffers_the_saved_options_need():
    params = make_params(np.float64)
    donor = run_ours("RMSprop", {"centered": True, "momentum": 0.9}, params, grad_sequence(np.float64, n=2))
    plain = optim.RMSprop(make_params(np.float64), {k: np.zeros(s) for k, s in SHAPES.items()})
    assert set(plain.state["scale"]) == {"square_avg"}
    plain.load_state_dict(donor.state_dict())
    assert set(plain.state["scale"]) == {"square_avg", "grad_avg", "momentum_buffer"}


# -- input checks ------------------------------------------------------------------------------
def _pg():
    return {"w": np.zeros(3)}, {"w": np.zeros(3)}


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda p, g: optim.Adam(p, g, lr=-1), ValueError, r"^Adam: lr must be >= 0, got -1.0$"),
        (lambda p, g: optim.Adam(p, g, betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\] must be < 1, got 1.0"),
        (lambda p, g: optim.Adam(p, g, betas=0.9), TypeError, "Adam: betas must be a pair"),
        (lambda p, g: optim.AdamW(p, g, eps=float("nan")), ValueError, "AdamW: eps must be finite, got nan"),
        (lambda p, g: optim.SGD(p, g, lr=0.1, momentum=-0.5), ValueError, "SGD: momentum must be >= 0, got -0.5"),
        (lambda p, g: optim.SGD(p, g, lr=0.1, nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
        (lambda p, g: optim.SGD(p, g, lr="0.1"), TypeError, "SGD: lr must be a real number, got str"),
        (lambda p, g: optim.RMSprop(p, g, centered=1), TypeError, "RMSprop: centered must be a bool, got int 1"),
        (lambda p, g: optim.Adagrad(p, g, lr_decay=-0.1), ValueError, "Adagrad: lr_decay must be >= 0, got -0.1"),
        (lambda p, g: optim.Adam(p, {"v": np.zeros(3)}), ValueError, r"same keys as params; missing \['w'\]"),
        (lambda p, g: optim.Adam(p, {"w": np.zeros(4)}), ValueError, r"grads\['w'\] must have shape \(3,\)"),
        (lambda p, g: optim.Adam(p, {"w": np.zeros(3, np.float32)}), TypeError, "must have dtype float64"),
        (lambda p, g: optim.Adam({"w": np.zeros(3, int)}, {"w": np.zeros(3, int)}), TypeError, "float32 or float64"),
        (lambda p, g: optim.Adam({"w": [0.0]}, {"w": [0.0]}), TypeError, r"params\['w'\] must be a numpy array"),
        (lambda p, g: optim.Adam([p["w"]], [g["w"]]), TypeError, "params must be a mapping"),
        (lambda p, g: optim.Adam({}, {}), ValueError, "params must not be empty"),
        (
            lambda p, g: optim.Adam({"a": p["w"], "b": p["w"]}, {"a": g["w"], "b": g["w"].copy()}),
            ValueError,
            "same array",
        ),
    ],
)
def test_constructor_rejects_bad_input(make, exc, match):
    p, g = _pg()
    with pytest.raises(exc, match=match):
        make(p, g)


def test_lr_assignment_is_validated():
    opt = optim.SGD(*_pg(), lr=0.1)
    opt.lr = 0.05
    assert opt.lr == 0.05 and opt.hyper["lr"] == 0.05
    with pytest.raises(ValueError, match="SGD: lr must be >= 0, got -1.0"):
        opt.lr = -1.0
    assert opt.lr == 0.05


def test_read_only_params_are_rejected():
    p, g = _pg()
    p["w"].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['w'\] must be writeable"):
        optim.SGD(p, g, lr=0.1)


def test_defaults_match_torch():
    import inspect

    pairs = {"SGD": "SGD", "Adagrad": "Adagrad", "RMSprop": "RMSprop", "Adam": "Adam", "AdamW": "AdamW"}
    for ours, theirs in pairs.items():
        o = inspect.signature(getattr(optim, ours)).parameters
        t = inspect.signature(getattr(torch.optim, theirs)).parameters
        for k, param in o.items():
            if k in ("params", "grads") or param.default is inspect.Parameter.empty:
                continue
            td = t[k].default
            assert param.default == (tuple(td) if isinstance(td, tuple) else td), f"{ours}.{k}"


# -- schedules ---------------------------------------------------------------------------------
EPOCHS = 30


def _torch_lrs(make_sched, metrics=None, lr=1.0):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt)
    lrs = []
    for e in range(EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(metrics[e]) if metrics is not None else sched.step()
    return lrs


def _our_lrs(make_sched, metrics=None, lr=1.0, epochs=range(EPOCHS), opt=None, sched=None):
    opt = opt or optim.SGD(*_pg(), lr=lr)
    sched = sched or make_sched(opt)
    lrs = []
    for e in epochs:
        lrs.append(opt.lr)
        sched.step(metrics[e]) if metrics is not None else sched.step()
    return lrs, opt, sched


def _assert_lrs_close(ours, theirs):
    assert len(ours) == len(theirs)
    for e, (a, b) in enumerate(zip(ours, theirs)):
        assert abs(a - b) <= 1e-12 * abs(b) + 1e-15, f"epoch {e}: ours {a!r}, torch {b!r}"


PLATEAU_METRICS = [
    5.0,
    4.0,
    3.5,
    3.5,
    3.49999,
    3.6,
    3.2,
    3.2,
    3.2,
    3.2,
    3.19,
    3.0,
    3.1,
    3.1,
    3.1,
    3.1,
    3.1,
    2.0,
    2.0,
    float("nan"),
    2.0,
    2.0,
    2.0,
    1.9,
    2.5,
    2.5,
    2.5,
    2.5,
    2.5,
    2.5,
]

SCHEDULES = [
    (
        "StepLR",
        lambda o: StepDecay(o, step_size=3, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        None,
    ),
    (
        "Zaremba",
        lambda o: StepDecay(o, step_size=1, gamma=1 / 1.15, decay_start=6),
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: (1 / 1.15) ** max(0, e - 5)),
        None,
    ),
    (
        "Cosine",
        lambda o: CosineAnnealing(o, T_max=10, eta_min=0.01),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
        None,
    ),
    (
        "Plateau-min-rel",
        lambda o: ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1, min_lr=0.1),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1, min_lr=0.1),
        PLATEAU_METRICS,
    ),
    (
        "Plateau-max-abs",
        lambda o: ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs"),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, mode="max", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs"
        ),
        [-m for m in PLATEAU_METRICS],
    ),
]


@pytest.mark.parametrize("label,ours,theirs,metrics", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(label, ours, theirs, metrics):
    got, _, _ = _our_lrs(ours, metrics)
    want = _torch_lrs(theirs, metrics)
    assert len(set(want)) >= 3, "the oracle sequence should change the lr more than once"
    _assert_lrs_close(got, want)


def test_zaremba_form_keeps_lr_for_the_first_epochs():
    got, _, _ = _our_lrs(lambda o: StepDecay(o, step_size=1, gamma=0.5, decay_start=4), epochs=range(7))
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]


@pytest.mark.parametrize("label,ours,theirs,metrics", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_resume_is_exact(label, ours, theirs, metrics):
    full, _, _ = _our_lrs(ours, metrics)
    first, opt, sched = _our_lrs(ours, metrics, epochs=range(12))
    sched_state = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    opt_state = opt.state_dict()
    opt2 = optim.SGD(*_pg(), lr=7.0)
    opt2.load_state_dict(opt_state)
    sched2 = ours(opt2)
    sched2.load_state_dict(sched_state)
    assert sched2.state_dict() == sched_state
    rest, _, _ = _our_lrs(ours, metrics, epochs=range(12, EPOCHS), opt=opt2, sched=sched2)
    assert first + rest == full


def test_plateau_state_with_infinite_best_is_strict_json():
    opt = optim.SGD(*_pg(), lr=1.0)
    sched = ReduceLROnPlateau(opt)
    text = json.dumps(sched.state_dict(), allow_nan=False)
    assert json.loads(text)["best"] == "inf"
    other = ReduceLROnPlateau(opt, mode="max")
    with pytest.raises(ValueError, match="mode must be one of 'min', 'max', got 'median'"):
        other.load_state_dict({**json.loads(text), "mode": "median"})
    assert other.mode == "max" and other.best == -math.inf
    other.load_state_dict(json.loads(text))
    assert other.best == math.inf and other.mode == "min"


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda o: StepDecay(o, step_size=0), ValueError, "StepDecay: step_size must be >= 1, got 0"),
        (lambda o: StepDecay(o, step_size=2, gamma=-0.5), ValueError, "StepDecay: gamma must be >= 0, got -0.5"),
        (lambda o: StepDecay(o, step_size=2.5), TypeError, "StepDecay: step_size must be an int"),
        (lambda o: CosineAnnealing(o, T_max=0), ValueError, "CosineAnnealing: T_max must be >= 1, got 0"),
        (lambda o: CosineAnnealing(o, T_max=5, eta_min=-1), ValueError, "eta_min must be >= 0, got -1.0"),
        (lambda o: ReduceLROnPlateau(o, factor=1.0), ValueError, "ReduceLROnPlateau: factor must be < 1, got 1.0"),
        (lambda o: ReduceLROnPlateau(o, mode="median"), ValueError, "mode must be one of 'min', 'max'"),
        (lambda o: ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be >= 0, got -1"),
        (lambda o: ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode must be one of"),
        (lambda o: StepDecay(object(), step_size=1), TypeError, "optimizer must have an 'lr' attribute"),
    ],
)
def test_schedule_rejects_bad_input(make, exc, match):
    opt = optim.SGD(*_pg(), lr=1.0)
    with pytest.raises(exc, match=match):
        make(opt)


def test_schedule_load_rejects_other_schedule_and_bad_metric():
    opt = optim.SGD(*_pg(), lr=1.0)
    step = StepDecay(opt, step_size=2)
    with pytest.raises(ValueError, match="state must have keys"):
        step.load_state_dict(CosineAnnealing(opt, T_max=3).state_dict())
    forged = {**step.state_dict(), "schedule": "CosineAnnealing"}
    with pytest.raises(ValueError, match="must come from StepDecay, got 'CosineAnnealing'"):
        step.load_state_dict(forged)
    with pytest.raises(TypeError, match="metric must be a real number, got str"):
        ReduceLROnPlateau(opt).step("0.5")


@pytest.mark.parametrize("module", ["rnnkit.optim", "rnnkit.schedules"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
