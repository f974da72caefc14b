"""
Build an RNN step by step, in the course notation
==================================================

One step of the course's RNN is
``a_next = tanh(Waa a_prev + Wax xt + ba)`` and ``yt_pred = softmax(Wya a_next + by)``,
one example per column. This example runs a step by hand, checks it against
:func:`rnnkit.course.rnn_cell_forward`, runs the whole sequence with
:func:`rnnkit.course.rnn_forward`, backpropagates through time with
:func:`rnnkit.course.rnn_backward`, checks that gradient by finite
differences, and draws how the gradient of the last step's state shrinks or
grows on its way back to the first step as the recurrent matrix is scaled.
"""

import matplotlib.pyplot as plt
import numpy as np

from rnnkit import course
from rnnkit.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(0)
n_x, n_a, n_y, m, T_x = 3, 5, 2, 4, 30

parameters = {
    "Wax": rng.normal(size=(n_a, n_x)),
    "Waa": rng.normal(size=(n_a, n_a)) / np.sqrt(n_a),
    "Wya": rng.normal(size=(n_y, n_a)),
    "ba": rng.normal(size=(n_a, 1)),
    "by": rng.normal(size=(n_y, 1)),
}
x = rng.normal(size=(n_x, m, T_x))
a0 = np.zeros((n_a, m))

# %%
# One step, by hand and by rnnkit
# -------------------------------
xt = x[:, :, 0]
a_next = np.tanh(parameters["Waa"] @ a0 + parameters["Wax"] @ xt + parameters["ba"])
z = parameters["Wya"] @ a_next + parameters["by"]
yt_pred = np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0)

a_rnnkit, y_rnnkit, cache = course.rnn_cell_forward(xt, a0, parameters)
print("one step agrees:", np.allclose(a_next, a_rnnkit, atol=1e-12), np.allclose(yt_pred, y_rnnkit, atol=1e-12))

# %%
# The whole sequence, and its gradient
# ------------------------------------
# ``da`` is the gradient arriving at every hidden state from outside (here a
# random projection, the loss ``J = sum(P * a)``); ``rnn_backward`` adds the
# part that comes back from later steps.
a, y_pred, caches = course.rnn_forward(x, a0, parameters)
P = rng.normal(size=a.shape)
gradients = course.rnn_backward(P, caches)


def J():
    return float(np.sum(P * course.rnn_forward(x, a0, parameters)[0]))


for name in ("Wax", "Waa", "ba"):
    err = relative_error(gradients["d" + name], numerical_gradient(J, parameters[name]))
    print(f"d{name}: relative error against finite differences {err:.1e}")

# %%
# How far back does the gradient reach?
# -------------------------------------
# Put a loss on the last step only and read ``||dJ/da<t>||`` for every t from
# ``rnn_cell_backward``, step by step backwards. Scaling ``Waa`` moves its
# largest singular value below or above 1 (see the page on vanishing and
# exploding gradients).
fig, ax = plt.subplots(figsize=(6, 3.5))
for scale in (0.5, 1.0, 2.0, 4.0):
    sigma_max = np.linalg.svd(parameters["Waa"], compute_uv=False)[0]
    p = dict(parameters, Waa=parameters["Waa"] * (scale / sigma_max))
    a, _, caches = course.rnn_forward(x, a0, p)
    da = rng.normal(size=(n_a, m))  # dJ/da<T_x>
    norms = [np.linalg.norm(da)]
    for step in reversed(caches[0][1:]):  # back from T_x to 2
        da = course.rnn_cell_backward(da, step)["da_prev"]
        norms.append(np.linalg.norm(da))
    ax.semilogy(range(T_x, 0, -1), norms, label=f"sigma_max(Waa) = {scale:g}")
ax.set_xlabel("step t")
ax.set_ylabel("||dJ/da<t>||, loss at the last step")
ax.invert_xaxis()
ax.legend()
fig.tight_layout()
