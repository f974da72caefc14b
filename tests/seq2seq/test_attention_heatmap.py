"""The attention heatmap: labelled axes (source tokens, output tokens), the weights drawn as given."""

import doctest

import numpy as np
import pytest

import rnnkit.analysis.attention_plot as attention_plot_module
from rnnkit.analysis.attention_plot import plot_attention

pytest.importorskip("matplotlib")


def test_heatmap_axes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.random((4, 6))
    w /= w.sum(1, keepdims=True)
    src, out = list("24.11."), ["2", "0", "2", "</s>"]
    fig = plot_attention(w, src, out, title="24.11.")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "source tokens" and ax.get_ylabel() == "output tokens"
    assert [t.get_text() for t in ax.get_xticklabels()] == src
    assert [t.get_text() for t in ax.get_yticklabels()] == out
    np.testing.assert_array_equal(ax.images[0].get_array(), w)  # row t = output t, column i = source i
    assert ax.images[0].get_clim() == (0.0, 1.0)
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_heatmap_shape_error():
    with pytest.raises(ValueError, match=r"plot_attention: weights must have shape \(2, 3\) .*, got \(3, 2\)"):
        plot_attention(np.zeros((3, 2)), list("abc"), list("xy"))


def test_doctest():
    assert doctest.testmod(attention_plot_module).failed == 0
