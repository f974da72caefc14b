"""
Dropout masks over time
=======================

Which units are dropped at which step, for each kind of dropout a rnnkit
layer offers: standard dropout draws a new mask at every step, variational
dropout one mask per sequence, zoneout chooses at every step which units keep
their previous value, and weight drop thins the recurrent matrix once per
forward pass. Every mask below is read from a layer's last forward pass on a
batch of two sequences (left and right of the red line), so it is the mask
rnnkit drew and used (black: dropped, or kept from the previous step for
zoneout).
"""

import matplotlib.pyplot as plt
import numpy as np

import rnnkit

T, B, H = 20, 2, 24
x = np.random.default_rng(0).normal(size=(T, B, 4)).astype(np.float32)  # two sequences


def masks_of(seed, **kw):
    """Run a 2-layer GRU with the given regulariser and return the masks its forward drew."""
    layer = rnnkit.GRU(4, H, num_layers=2, seed=seed, **kw)
    layer.forward(x)
    return layer.last_dropout_masks()  # the masks the forward applied (and the backward reuses)


def over_time(mask):
    """(T or 1, B, H) -> (H, B*T): sequence 0's steps, then sequence 1's; True where dropped."""
    mask = np.broadcast_to(mask, (T, B, H))
    return np.concatenate([mask[:, b].T for b in range(B)], axis=1) == 0


standard = masks_of(1, dropout=0.3).output[0]  # (T, B, H): outputs of layer 0
variational = masks_of(2, dropout=0.3, variational=True).output[0]  # (1, B, H)
recurrent = masks_of(3, recurrent_dropout=0.3, variational=True).recurrent[0][0]  # (1, B, H)
zoneout = masks_of(4, zoneout=0.3).zoneout[0][0]  # (T, B, H); 1: take the new value
weight = masks_of(5, weight_drop=0.3).weight_hh[0][0]  # (3H, H): one mask of W_hh

panels = [
    ("standard dropout\n(new mask every step)", over_time(standard)),
    ("variational dropout\n(one mask per sequence)", over_time(variational)),
    ("recurrent dropout, variational\n(on h_{t-1} in W_hh h)", over_time(recurrent)),
    ("zoneout\n(unit keeps h_{t-1})", over_time(zoneout)),
]
fig, axes = plt.subplots(1, 5, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.2]})
for ax, (title, dropped) in zip(axes, panels):
    ax.imshow(dropped, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.axvline(T - 0.5, color="tab:red", linewidth=1.5)  # sequence 0 | sequence 1
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("step t: sequence 0 | sequence 1", fontsize=8)
    ax.set_ylabel("unit")
axes[4].imshow(weight == 0, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
axes[4].set_title("weight drop\n(entries of W_hh, once per pass)", fontsize=8)
axes[4].set_xlabel("column of W_hh")
axes[4].set_ylabel("row (gates r, z, n)")
fig.tight_layout()

for title, dropped in panels:
    print(f"{title.splitlines()[0]:32s} fraction dropped {dropped.mean():.2f}")
print(f"{'weight drop':32s} fraction dropped {(weight == 0).mean():.2f}")
