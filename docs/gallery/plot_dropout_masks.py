"""
Dropout masks over time
=======================

Which units are dropped at which step, for each kind of dropout a rnnkit
layer offers: standard dropout draws a new mask at every step, variational
dropout one mask per sequence, zoneout chooses at every step which units keep
their previous value, and weight drop thins the recurrent matrix once per
forward pass. Every mask below is read from a layer's last forward pass, so
it is the mask rnnkit drew and used (black: dropped, or kept from the
previous step for zoneout).
"""

import matplotlib.pyplot as plt
import numpy as np

import rnnkit

T, H = 30, 16
x = np.random.default_rng(0).normal(size=(T, 1, 4)).astype(np.float32)  # one sequence


def masks_of(**kw):
    """Run a 2-layer GRU with the given regulariser and return its last forward's cache."""
    layer = rnnkit.GRU(4, H, num_layers=2, seed=0, **kw)
    layer.forward(x)
    return layer._cache  # the masks the forward drew (and the backward reuses)


standard = masks_of(dropout=0.3).dropout_masks[0][:, 0]  # (T, H): outputs of layer 0
variational = masks_of(dropout=0.3, variational=True).dropout_masks[0][:, 0]  # (1, H)
recurrent = masks_of(recurrent_dropout=0.3, variational=True).cells[0][0].masks.recurrent[:, 0]
zoneout = masks_of(zoneout=0.3).cells[0][0].masks.update[:, 0]  # 1: take the new value
weight = masks_of(weight_drop=0.3).weight_masks[0][0]  # (3H, H): one mask of W_hh

panels = [
    ("standard dropout\n(new mask every step)", standard == 0),
    ("variational dropout\n(one mask per sequence)", np.repeat(variational == 0, T, axis=0)),
    ("recurrent dropout, variational\n(on h_{t-1} in W_hh h)", np.repeat(recurrent == 0, T, axis=0)),
    ("zoneout\n(unit keeps h_{t-1})", zoneout == 0),
]
fig, axes = plt.subplots(1, 5, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.4]})
for ax, (title, dropped) in zip(axes, panels):
    ax.imshow(dropped.T, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("step t")
    ax.set_ylabel("unit")
axes[4].imshow(weight == 0, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
axes[4].set_title("weight drop\n(entries of W_hh, once per pass)", fontsize=8)
axes[4].set_xlabel("column of W_hh")
axes[4].set_ylabel("row (gates r, z, n)")
fig.tight_layout()

for title, dropped in panels:
    print(f"{title.splitlines()[0]:32s} fraction dropped {dropped.mean():.2f}")
print(f"{'weight drop':32s} fraction dropped {(weight == 0).mean():.2f}")
