"""The attention heatmap of one translation: which source token each output token looked at.

Row t is the attention distribution a_t over the source positions when output
token t was produced (each row sums to 1); a bright cell (t, i) says that
output t drew on source token i. A monotone diagonal is an alignment in
order (dates, copying); an anti-diagonal is a reversal; a row spread thin
means the decoder relied on its own state. Built with
``matplotlib.figure.Figure`` (no pyplot), imported only when called.

Example
-------
>>> import numpy as np
>>> fig = plot_attention(np.eye(3)[::-1], list("abc"), list("cba"))
>>> ax = fig.axes[0]
>>> ax.get_xlabel(), ax.get_ylabel(), [t.get_text() for t in ax.get_xticklabels()]
('source tokens', 'output tokens', ['a', 'b', 'c'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_attention(
    weights: ArrayLike, source_tokens: Sequence[str], output_tokens: Sequence[str], *, title: str | None = None
) -> Figure:
    """A heatmap of ``weights`` (T_out, S): output tokens down the side, source tokens along the bottom."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape != (len(output_tokens), len(source_tokens)):
        raise ValueError(
            f"plot_attention: weights must have shape ({len(output_tokens)}, {len(source_tokens)}) "
            f"(output tokens, source tokens), got {w.shape}"
        )
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plot_attention needs matplotlib; install it with: pip install "rnnkit[cli]"') from None
    S, T = w.shape[1], w.shape[0]
    rotate = max(map(len, source_tokens), default=1) > 1  # words or sentences stand upright below the map
    below = 0.09 * max(map(len, source_tokens), default=1) if rotate else 0.0  # inches of rotated labels
    left = 0.09 * max(map(len, output_tokens), default=1)
    fig = Figure(figsize=(max(3.0, 0.3 * S + 1.5 + left), max(2.5, 0.3 * T + 1.2 + below)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    shown = lambda toks: [" " if t == " " else t for t in toks]  # a space label must still take a tick
    ax.set_xticks(
        range(S), labels=shown(source_tokens), rotation=90 if max(map(len, source_tokens), default=1) > 1 else 0
    )
    ax.set_yticks(range(T), labels=shown(output_tokens))
    ax.set_xlabel("source tokens")
    ax.set_ylabel("output tokens")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="attention weight")
    return fig
