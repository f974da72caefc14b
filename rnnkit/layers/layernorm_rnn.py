"""Layer-normalised sequence layers: ``LayerNormLSTM`` and ``LayerNormGRU`` (Ba, Kiros and Hinton 2016).

Both are ``RecurrentLayer``s, so stacking, directions, lengths, batch_first,
the dropouts, DropConnect and zoneout behave exactly as in ``rnnkit.LSTM`` /
``rnnkit.GRU``. The maths (equations, placement of the normalisations, the
backward pass) is in ``rnnkit.cells.ln_lstm`` and ``rnnkit.cells.ln_gru``.

Parameters, for layer k and direction suffix s ('' or '_reverse'), G = 4
(LSTM: i, f, g, o) or 3 (GRU: r, z, n):

    weight_ih_l{k}{s}     (G*H, D)     D = input_size for k = 0, else H * num_directions
    weight_hh_l{k}{s}     (G*H, H)
    ln_ih_weight_l{k}{s}  (G*H,)       gain of LN(x W_ih^T), initialised to 1
    ln_ih_bias_l{k}{s}    (G*H,)       shift of LN(x W_ih^T), initialised to 0 (absent with bias=False)
    ln_hh_weight_l{k}{s}  (G*H,)       gain of LN(h W_hh^T), 1
    ln_hh_bias_l{k}{s}    (G*H,)       shift of LN(h W_hh^T), 0 (absent with bias=False)
    ln_c_weight_l{k}{s}   (H,)         LSTM only: gain of LN(c_t), 1
    ln_c_bias_l{k}{s}     (H,)         LSTM only: shift of LN(c_t), 0 (absent with bias=False)

There are no ``bias_ih`` / ``bias_hh``: the LN shifts sit where they would
and play their part. The weights are initialised uniform in +/- 1/sqrt(H),
as the plain layers, from ``seed``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.layers.recurrent import RecurrentLayer


class _LayerNormRecurrent(RecurrentLayer):
    """What the layer-normalised layers share (parameters and initialisation come from the registry)."""

    @property
    def eps(self) -> float:
        return self.variant["eps"]


class LayerNormLSTM(_LayerNormRecurrent, family="ln_lstm"):
    """LSTM with layer normalisation of both products and of the cell state (Ba et al. 2016).

    gates = LN(h W_hh^T) + LN(x W_ih^T), c_t = f c_{t-1} + i g, h_t = o tanh(LN(c_t));
    each LN over all 4H pre-activations at once. Constructor as ``rnnkit.LSTM``
    without ``proj_size`` and ``peephole``, plus ``eps`` (LN's variance
    floor). ``hx`` and the returned state are tuples (h, c). Parameters: this
    module's docstring; equations and backward: ``rnnkit.cells.ln_lstm``.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.layers.layernorm_rnn import LayerNormLSTM
    >>> layer = LayerNormLSTM(8, 16, num_layers=2, bidirectional=True, seed=0)
    >>> out, (h_n, c_n) = layer.forward(np.ones((5, 3, 8), np.float32), lengths=np.array([5, 2, 4]))
    >>> dx, (dh0, dc0) = layer.backward(np.ones_like(out))
    >>> out.shape, h_n.shape, layer.params["ln_c_weight_l1_reverse"].shape
    ((5, 3, 32), (4, 3, 16), (16,))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        eps: float = 1e-5,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
            variant={"eps": eps},
        )


class LayerNormGRU(_LayerNormRecurrent, family="ln_gru"):
    """GRU with layer normalisation of both products (after Ba et al. 2016), PyTorch's reset-after form.

    r, z = sigmoid(LN(x W_ih^T) + LN(h W_hh^T)) blocks, n = tanh(LN(x W_ih^T)_n + r * LN(h W_hh^T)_n),
    h' = (1 - z) n + z h; each LN over all 3H pre-activations at once.
    Constructor as ``rnnkit.GRU`` without ``reset_after`` / ``reset_gate``,
    plus ``eps``. Parameters: this module's docstring; equations and
    backward: ``rnnkit.cells.ln_gru``.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.layers.layernorm_rnn import LayerNormGRU
    >>> layer = LayerNormGRU(8, 16, batch_first=True, seed=0)
    >>> out, h_n = layer.forward(np.ones((3, 5, 8), np.float32))
    >>> out.shape, h_n.shape
    ((3, 5, 16), (1, 3, 16))
    >>> [k for k in layer.params if k.startswith("ln_")]
    ['ln_ih_weight_l0', 'ln_ih_bias_l0', 'ln_hh_weight_l0', 'ln_hh_bias_l0']
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        eps: float = 1e-5,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
            variant={"eps": eps},
        )
