"""How far back the gradient of a last-step loss reaches: ||dL_T/ds_t|| and ||ds_T/ds_t|| for every t.

The standard analysis (Bengio, Simard and Frasconi 1994; Pascanu, Mikolov and Bengio 2013)
unroll backpropagation through time: with s_t the recurrent state after t
steps and J_t = ds_t/ds_{t-1} the one-step Jacobian,

    dL_T/ds_t = (J_T J_{T-1} ... J_{t+1})^T dL_T/ds_T      and      ds_T/ds_t = J_T ... J_{t+1}.

For a tanh RNN J_t = diag(1 - h_t**2) W_hh, so the product shrinks or grows
geometrically with T - t, at a rate set by the largest singular value of
W_hh (see :mod:`rnnkit.analysis.spectrum`). Gated cells add paths whose
Jacobian is close to the identity (an LSTM's c_t = f c_{t-1} + ..., a GRU's
h_t = z h_{t-1} + ...), and the gradient survives.

:func:`gradient_flow` measures both quantities with the layer's own backward
pass, nothing re-derived: for t = T, ..., 1 it runs the single step t from
the saved state s_{t-1} (``layer.state_at``) and calls ``layer.backward`` with
the incoming gradient as ``dh_n``; the returned ``dhx`` is dL_T/ds_{t-1}. For
the Jacobian products the same call carries S more rows per sequence, the
rows of ds_T/ds_t, and returns the rows of ds_T/ds_{t-1} (one backward per
step, batch B (1 + S)). One full backward through the whole sequence checks
the chain: its dhx must equal the chained dL_T/ds_0 (``bptt_grad0``).

The state s_t is everything the recurrence carries: every layer's h_t and, for
an LSTM, every layer's cell state c_t, so S = L H_out (+ L H). ``hidden_grad_norm``
keeps only the h parts.

The loss is taken at the last step only, on the top layer's h_T (B, H_out):

- ``target=None``: L = u . h_T per sequence, u a fixed random unit vector (from ``seed``);
  the gradient flow of "some readout of the final state".
- ``target`` an array (B, H_out): L = 0.5 ||h_T - target||^2 per sequence.
- ``target`` a callable ``f(h_T) -> (losses (B,), dlosses/dh_T (B, H_out))``: any loss.
- a model with a read-out that has ``last_step_loss(h_T, y)`` (the models of
  :mod:`rnnkit.tasks.models`): ``target`` is y, the loss the model trains on.

Each sequence's gradient is that of its own loss (not of a batch mean), so
norms do not depend on B. The passes run in eval mode (no dropout) and leave
the model's mode, gradients and last cache as they were. They run in the
layer's dtype: a float32 gradient that shrinks by 1e-2 per step underflows to
0 within 20 steps, so analyse a float64 copy (``model.copy("float64")`` for
the task models, or a layer built with ``dtype=np.float64`` given the same
``state_dict``).

Example
-------
>>> import numpy as np, rnnkit
>>> layer = rnnkit.RNN(2, 16, dtype=np.float64, seed=0)
>>> layer.params["weight_hh_l0"] *= 0.5                                # a contracting W_hh
>>> flow = gradient_flow(layer, np.random.default_rng(0).normal(size=(30, 4, 2)))
>>> flow.grad_norm.shape, bool(flow.grad_curve[0] < 1e-4 * flow.grad_curve[-1])
((31, 4), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import fmt_shape
from rnnkit.analysis._common import StateLayout, find_layer, layer_input, left_as_found, time_major_input
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


@dataclass
class GradientFlow:
    """What :func:`gradient_flow` measured; index t = 0..T counts the steps taken (s_0 is the initial state)."""

    grad_norm: np.ndarray  # (T+1, B) ||dL_T/ds_t|| over the whole state (all layers; LSTM h and c)
    hidden_grad_norm: np.ndarray  # (T+1, B) the same over the hidden states h_t only
    jacobian_norm: np.ndarray | None  # (T+1, B) spectral norm of ds_T/ds_t (1 at t = T); None if not asked
    loss: np.ndarray  # (B,) each sequence's loss
    state_grad0: np.ndarray  # (B, S) dL_T/ds_0 from the chain of one-step backward passes
    bptt_grad0: np.ndarray  # (B, S) dL_T/ds_0 from one backward pass through all T steps

    @property
    def T(self) -> int:
        return self.grad_norm.shape[0] - 1

    @property
    def grad_curve(self) -> np.ndarray:
        """(T+1,) the median over the batch of ``grad_norm``: one line of a gradient-flow plot."""
        return np.median(self.grad_norm, axis=1)

    @property
    def jacobian_curve(self) -> np.ndarray | None:
        """(T+1,) the median over the batch of ``jacobian_norm``."""
        return None if self.jacobian_norm is None else np.median(self.jacobian_norm, axis=1)

    def jacobian_by_steps(self) -> np.ndarray:
        """(T+1, B): row k is ||ds_T/ds_{T-k}||, the norm of a product of k one-step Jacobians."""
        if self.jacobian_norm is None:
            raise ValueError("GradientFlow.jacobian_by_steps: run gradient_flow with jacobians=True")
        return self.jacobian_norm[::-1]

    def decay_per_step(self, start: int = 0, stop: int | None = None) -> float:
        """Geometric factor r with grad_curve[t] ~ C r^(T - t), fitted over t in [start, stop).

        Below 1 the gradient vanishes backwards in time, above 1 it explodes.
        Zero entries (a dead ReLU unit, say) are left out of the fit.
        """
        g = self.grad_curve
        stop = len(g) if stop is None else stop
        t = np.arange(start, stop)
        g = g[start:stop]
        keep = g > 0
        if keep.sum() < 2:
            raise ValueError(
                f"GradientFlow.decay_per_step: needs at least two non-zero points to fit, got {int(keep.sum())}"
            )
        slope = np.polyfit(t[keep], np.log(g[keep]), 1)[0]  # d log g / dt
        return float(np.exp(-slope))


def _loss_function(where: str, model, layer, target, seed):
    """f(h_T (B, H_out)) -> (losses (B,), dlosses/dh_T (B, H_out)), following the module docstring."""
    Ho = layer.output_size
    readout = None if model is layer else getattr(model, "last_step_loss", None)
    if callable(target):
        return target
    if readout is not None:
        if target is None:
            raise ValueError(
                f"{where}: target must be given for a {type(model).__name__}: the targets y "
                "its last_step_loss(h_T, y) compares with"
            )
        return lambda h: readout(h, target)
    if target is None:
        u = np.random.default_rng(seed).normal(size=Ho)
        u /= np.linalg.norm(u)
        return lambda h: (h @ u, np.broadcast_to(u, h.shape).copy())
    y = np.asarray(target)
    if y.dtype.kind not in "fiu":
        raise TypeError(f"{where}: target must be None, an array of real numbers or a callable, got dtype {y.dtype}")
    return lambda h: _squared_error(where, h, y)


def _squared_error(where, h, y):
    if y.shape != h.shape:
        raise ValueError(f"{where}: target must have the shape of h_T {fmt_shape(h.shape)}, got {fmt_shape(y.shape)}")
    r = h - y
    return 0.5 * (r * r).sum(axis=1), r


def gradient_flow(
    model: Module,
    x: ArrayLike,
    target: ArrayLike | Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    hx: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
    jacobians: bool = True,
    seed: int = 0,
) -> GradientFlow:
    """Norms of dL_T/ds_t and of ds_T/ds_t for t = 0..T, from the model's own backward pass.

    ``model`` is a unidirectional recurrent layer (RNN, GRU, LSTM, MGU, stacked
    or not) or a model holding one as ``.rnn``; ``x`` is what that layer reads,
    in its layout ((T, B, D), or (B, T, D) with batch_first); ``hx`` its
    initial state (None: zeros). ``target`` defines the loss, see the module
    docstring. ``jacobians=False`` skips the Jacobian products (their cost is
    S backward rows per sequence and step, and an SVD of an S x S matrix per
    sequence and step).
    """
    where = "gradient_flow"
    layer = find_layer(where, model)
    if layer.bidirectional:
        raise ValueError(f"{where}: needs a unidirectional layer, got bidirectional=True")
    if not is_grad_enabled():
        raise RuntimeError(f"{where}: gradients are disabled (inside rnnkit.no_grad()); call it outside")
    x = time_major_input(where, layer, x)
    T, B, _ = x.shape
    loss_fn = _loss_function(where, model, layer, target, seed)
    lay = StateLayout(layer)
    S = lay.size
    with left_as_found(model, layer):
        layer.forward(layer_input(layer, x), hx)
        states = [lay.flatten(layer.state_at(t)) for t in range(T + 1)]  # each (B, S)
        h_T = states[T][:, lay.top]  # (B, H_out)
        losses, dh_T = loss_fn(h_T.copy())
        losses = np.broadcast_to(np.asarray(losses, dtype=np.float64), (B,)).copy()
        dh_T = np.asarray(dh_T)
        if dh_T.shape != h_T.shape:
            raise ValueError(
                f"{where}: the loss gradient must have the shape of h_T {fmt_shape(h_T.shape)}, "
                f"got {fmt_shape(dh_T.shape)}"
            )
        g = np.zeros((B, S), dtype=layer.dtype)  # dL_T/ds_T
        g[:, lay.top] = dh_T
        _, d0 = layer.backward(None, lay.unflatten(g))  # BPTT through all T steps
        bptt0 = lay.flatten(d0)

        grad_norm = np.empty((T + 1, B))
        hidden_norm = np.empty((T + 1, B))
        jac = np.empty((T + 1, B)) if jacobians else None
        P = np.broadcast_to(np.eye(S, dtype=layer.dtype), (B, S, S)).copy() if jacobians else None  # ds_T/ds_t
        reps = 1 + (S if jacobians else 0)  # rows per sequence in a step call

        def record(t):
            grad_norm[t] = np.linalg.norm(g, axis=1)
            hidden_norm[t] = np.linalg.norm(g[:, lay.hidden], axis=1)
            if jacobians:
                jac[t] = np.linalg.norm(P, ord=2, axis=(1, 2))

        record(T)
        for t in range(T, 0, -1):
            # one step from s_{t-1}: B rows for dL/ds, then S rows per sequence for the rows of ds_T/ds_t
            s_prev = np.repeat(states[t - 1], reps, axis=0)  # (B*reps, S), sequence-major
            x_t = np.repeat(x[t - 1 : t], reps, axis=1)  # (1, B*reps, D)
            rows = np.concatenate([g[:, None, :], P], axis=1) if jacobians else g[:, None, :]
            layer.forward(layer_input(layer, x_t), lay.unflatten(s_prev))
            _, d = layer.backward(None, lay.unflatten(rows.reshape(B * reps, S)))
            d = lay.flatten(d).reshape(B, reps, S)
            g = d[:, 0]
            if jacobians:
                P = d[:, 1:]
            record(t - 1)
    return GradientFlow(grad_norm, hidden_norm, jac, losses, g.copy(), bptt0)
