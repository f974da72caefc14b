"""The attentional decoder: stacked single-step cells, attention, input feeding, copy switch. Forward and backward.

One step t (shapes in the legend of :mod:`rnnkit.seq2seq`; M (B, S, Dm) the memory):

    e_t   = E_dec[y_{t-1}]                                   (B, E)   the embedded input token
    x_t   = [e_t; ht_{t-1}]  with input feeding, else e_t    (B, E [+ H])   ht_{-1} = 0
    s^l_t = cell_l(x^l_t, s^l_{t-1}),  x^0_t = x_t,  x^{l+1}_t = dropout(s^l_t)        stacked cells
    s_t   = s^{L-1}_t                                        (B, H)   the top state (LSTM: its h)
    a_t   = masked_softmax(score(s_t, M, cov_t))             (B, S)   rnnkit.seq2seq.attention
    c_t   = sum_i a_t,i M_i                                  (B, Dm)  ("none": c_t = the encoder's final state)
    ht_t  = tanh(W_c [c_t; s_t] + b_c)                       (B, H)   ``combine``
    z_t   = W_o ht_t + b_o                                   (B, V)   ``out``
    p_gen = sigmoid(w_c . c_t + w_s . s_t + w_x . e_t + b)   (B,)     ``copy`` (pointer-generator only)
    cov_{t+1} = cov_t + a_t                                  (B, S)   coverage, cov_0 = 0

This is the computation path of Luong et al. 2015 (attention from the current
top state s_t, the context combined with it into ht_t, ht_t fed to the next
step); the additive score is Bahdanau et al. 2015's. Bahdanau et al. score
against s_{t-1} and feed c_t into the cell; input feeding gives the cell the
previous step's attention in the same way.

p_gen uses the context c_t, the top decoder state s_t and the embedded input
token e_t (See et al. 2017's h*_t, s_t, x_t; x_t is e_t, not the input-fed
vector). OpenNMT-py computes its copy switch from the attentional output ht_t
alone (OpenNMT/OpenNMT-py#627).

Regularisers (training mode only, masks drawn from the decoder's generator
``rng`` at the start of a forward and reused by backward; ``DecoderMasks``
records them so a gradient check can hold them fixed): ``dropout`` on the
states passed from layer l to layer l+1, ``recurrent_dropout`` on s^l_{t-1}
where it enters the recurrent product, ``zoneout`` (each unit keeps its
previous value with probability z, Krueger et al. 2016; evaluation uses the
expectation 1 - z). ``variational`` draws the dropout masks once per sequence
(Gal and Ghahramani 2016), else once per step. The cell maths with these masks
is that of :mod:`rnnkit.cells` (its ``StepMasks``), run one step at a time.

Backward runs t = T-1 .. 0 and carries dht (input feeding), ds^l (the
recurrence) and the summed gradient of all later coverage vectors, which
reaches a_t because cov_{t'} = sum_{t < t'} a_t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.cells import registry
from rnnkit.cells.common import StepMasks
from rnnkit.cells.registry import CellFamily
from rnnkit.layers import Embedding, Linear
from rnnkit.module import Module
from rnnkit.seq2seq import attention as att

if TYPE_CHECKING:  # the config's module imports this one
    from rnnkit.seq2seq.model import Seq2SeqConfig


def cell_family(name: str) -> tuple[CellFamily, dict, int]:
    """(registry entry, resolved variant options, gate count G) of the registered cell family ``name``.

    The decoder runs the family's maths one step at a time with its default
    variant options (the RNN's tanh, PyTorch's GRU), as its sequence layer does.
    """
    family = registry.get(name)
    variant = family.resolve("Decoder", {})
    return family, variant, family.num_gates(variant)


@dataclass
class DecoderMasks:
    """The random masks of one decoder forward pass (None where a regulariser is off).

    dropout[l] (T|1, B, H) for l < L-1; recurrent[l] (T|1, B, H); zoneout[l] (T, B, H) (1 = take the new
    value); zoneout_c[l] likewise for an LSTM's cell state."""

    dropout: list
    recurrent: list
    zoneout: list
    zoneout_c: list


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning at large |x|


class Decoder(Module):
    """Stacked single-step cells with attention; built by :class:`rnnkit.seq2seq.Seq2Seq` from its config.

    Parameters (under ``decoder.`` in the model): ``embedding.weight`` (V, E); per layer k the cell
    family's own (``CellFamily.parameter_spec``), for the built-in families ``rnn.weight_ih_l{k}``
    (G*H, D_k), ``rnn.weight_hh_l{k}`` (G*H, H), ``rnn.bias_ih_l{k}``, ``rnn.bias_hh_l{k}`` (G*H,) with
    D_0 = E (+ H with input feeding), D_k = H; ``attention.*`` (see :mod:`rnnkit.seq2seq.attention`);
    ``combine.weight`` (H, Dm + H), ``combine.bias``; ``out.weight`` (V, H), ``out.bias``; with copy
    ``copy.weight_context`` (Dm,), ``copy.weight_state`` (H,), ``copy.weight_input`` (E,), ``copy.bias`` (1,).
    """

    def __init__(self, cfg: Seq2SeqConfig, Dm: int, dtype: DTypeLike, seed: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.fam, self.variant, G = cell_family(cfg.cell)
        self.has_cell_state = self.fam.state_arity == 2
        self.kind = cfg.attention
        self.Dm = Dm
        H, E, L = cfg.decoder_hidden, cfg.embedding_size, cfg.decoder_layers
        self.H, self.E, self.L = H, E, L
        seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(6)]
        init = np.random.default_rng(seeds[0])
        self.embedding = Embedding(cfg.tgt_vocab_size, E, dtype=dtype, seed=seeds[1])
        self.rnn = Module()
        k = 1.0 / np.sqrt(H)
        for layer in range(L):
            D = (E + (H if cfg.input_feeding else 0)) if layer == 0 else H
            # the family's own layout (PyTorch's weight_ih, weight_hh, bias_ih, bias_hh for the built-in
            # families; layer-norm gains and shifts for ln_*), drawn in the registry's order
            for name, (shape, how) in self.fam.parameter_spec(D, H, variant=self.variant).items():
                if how == "ones":
                    w = np.ones(shape, dtype=dtype)
                elif how == "zeros":
                    w = np.zeros(shape, dtype=dtype)
                else:
                    w = init.uniform(-k, k, size=shape).astype(dtype)
                self.rnn.register_parameter(f"{name}_l{layer}", w)
        self._cell_names = tuple(self.fam.parameter_spec(1, 2, variant=self.variant))
        self.attention = Module()
        for name, shape in att.param_shapes(self.kind, Dm, H, cfg.attention_dim, cfg.coverage).items():
            bound = 1.0 / np.sqrt(shape[-1] if len(shape) == 2 else shape[0])
            self.attention.register_parameter(name, init.uniform(-bound, bound, size=shape).astype(dtype))
        self.combine = Linear(Dm + H, H, dtype=dtype, seed=seeds[2])
        self.out = Linear(H, cfg.tgt_vocab_size, dtype=dtype, seed=seeds[3])
        if cfg.copy:
            self.copy = Module()
            for name, n in (("weight_context", Dm), ("weight_state", H), ("weight_input", E), ("bias", 1)):
                bound = 1.0 / np.sqrt(Dm + H + E)
                self.copy.register_parameter(name, init.uniform(-bound, bound, size=(n,)).astype(dtype))
        self.rng = np.random.default_rng(seeds[4])
        self.dtype = np.dtype(dtype)

    # -- masks ------------------------------------------------------------------------------------
    def draw_masks(self, T: int, B: int) -> DecoderMasks:
        """Fresh masks for a forward over T steps and B sequences (all None in evaluation mode)."""
        c, H, L, dt = self.cfg, self.H, self.L, self.dtype
        on = self.training
        nt = 1 if c.variational else T

        def drop(p):
            return (self.rng.random((nt, B, H)) < 1.0 - p).astype(dt) / dt.type(1.0 - p)

        def zone():  # 1 = take the new value, with probability 1 - z
            return (self.rng.random((T, B, H)) >= c.zoneout).astype(dt)

        return DecoderMasks(
            dropout=[drop(c.dropout) if on and c.dropout else None for _ in range(L - 1)],
            recurrent=[drop(c.recurrent_dropout) if on and c.recurrent_dropout else None for _ in range(L)],
            zoneout=[zone() if on and c.zoneout else None for _ in range(L)],
            zoneout_c=[zone() if on and c.zoneout and self.has_cell_state else None for _ in range(L)],
        )

    def _step_masks(self, masks: DecoderMasks | None, t: int, layer: int) -> StepMasks | None:
        z = self.cfg.zoneout
        if masks is None:  # evaluation: zoneout's expectation
            if not z:
                return None
            u = np.full((1, 1, 1), 1.0 - z, dtype=self.dtype)
            return StepMasks(update=u, update_c=u if self.has_cell_state else None)
        r, u, uc = masks.recurrent[layer], masks.zoneout[layer], masks.zoneout_c[layer]
        if r is None and u is None:
            return None
        return StepMasks(
            update=None if u is None else u[t : t + 1],
            update_c=None if uc is None else uc[t : t + 1],
            recurrent=None if r is None else r[min(t, r.shape[0] - 1) : min(t, r.shape[0] - 1) + 1],
        )

    # -- one step ---------------------------------------------------------------------------------
    def params_by_layer(self) -> list:
        p = self.rnn.params
        return [{n: p[f"{n}_l{k}"] for n in self._cell_names} for k in range(self.L)]

    def step_forward(
        self,
        P: dict,
        tokens: np.ndarray,
        feed: np.ndarray,
        states: list,
        mem: tuple,
        masks: StepMasks,
        t: int,
        need_cache: bool,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray, list, tuple | None]:
        """One decoder step for B rows. ``mem`` = (M, keys, mask, cov, fixed_context, src_ext).

        Returns (z (B, V), a (B, S) or None, p_gen (B,) or None, ht, new_states, cache)."""
        M, keys, mask, cov, fixed_c, _ = mem
        e = self.embedding.weight[tokens]  # (B, E)
        x = np.concatenate([e, feed], axis=1) if self.cfg.input_feeding else e
        inp, new_states, ccs = x, [], []
        for layer in range(self.L):
            _, st, cc = self.fam.forward(
                P["rnn"][layer],
                inp[None],
                states[layer],
                masks=self._step_masks(masks, t, layer),
                need_cache=need_cache,
                **self.variant,
            )
            new_states.append(st)
            ccs.append(cc)
            h = st[0] if self.has_cell_state else st
            drop = None if masks is None or layer == self.L - 1 else masks.dropout[layer]
            inp = h if drop is None else h * drop[min(t, drop.shape[0] - 1)]
        s = h  # (B, H) the top state
        a = sc = None
        if self.kind == "none":
            c = fixed_c  # the plain encoder-decoder: one fixed context vector
        else:
            score, sc = att.score_forward(self.kind, P["attention"], keys, s, cov)
            a = att.masked_softmax(score, mask)  # (B, S)
            c = att.context_forward(a, M)  # (B, Dm)
        cs = np.concatenate([c, s], axis=1)  # (B, Dm + H)
        ht = np.tanh(cs @ P["combine.weight"].T + P["combine.bias"])  # (B, H)
        z = ht @ P["out.weight"].T + P["out.bias"]  # (B, V)
        pg = None
        if self.cfg.copy:
            gate = c @ P["copy.weight_context"] + s @ P["copy.weight_state"] + e @ P["copy.weight_input"]
            pg = _sigmoid(gate + P["copy.bias"][0])  # (B,) the probability of generating from the vocabulary
        cache = (tokens, e, x, ccs, s, a, sc, c, cs, ht, pg) if need_cache else None
        return z, a, pg, ht, new_states, cache

    def resolved_params(self) -> dict:
        """The parameters as one step reads them: per-layer cell dicts, the attention's dict, the rest by name."""
        out = {"rnn": self.params_by_layer(), "attention": self.attention.params}
        out.update({k: v for k, v in self.params.items() if k.startswith(("combine.", "out.", "copy."))})
        return out

    def resolved_grads(self) -> dict:
        """The live gradient arrays, arranged as ``step_backward`` adds into them."""
        g = self.grads
        out = {"rnn": self.rnn.grads, "attention": self.attention.grads, "embedding.weight": g["embedding.weight"]}
        out.update({k: v for k, v in g.items() if k.startswith(("combine.", "out.", "copy."))})
        return out

    def step_backward(
        self,
        P: dict,
        cache: tuple,
        dz: np.ndarray,
        dpg: np.ndarray | None,
        da_extra: np.ndarray | None,
        dfeed: np.ndarray | None,
        dstates: list,
        gcov: np.ndarray | None,
        dcov_extra: np.ndarray | None,
        grads: dict,
        acc: dict,
        masks: StepMasks,
        t: int,
    ) -> tuple[np.ndarray, list, np.ndarray | None]:
        """Gradient of one step. dz (B, V), dpg (B,) or None, da_extra (B, S) or None from the loss; dfeed
        (B, H) from step t+1's input; dstates[l] from step t+1; gcov (B, S) = sum of dL/dcov_{t'} for t' > t.

        Adds parameter gradients into ``grads``; accumulates dM, dkeys, dfixed in ``acc``. Returns
        (dfeed_prev, dstates_prev, gcov_prev)."""
        tokens, e, x, ccs, s, a, sc, c, cs, ht, pg = cache
        grads["out.weight"] += dz.T @ ht
        grads["out.bias"] += dz.sum(axis=0)
        dht = dz @ P["out.weight"]  # dht_t, through the output layer
        if dfeed is not None:
            dht += dfeed  # ht_t was the next step's input
        dpre = dht * (1.0 - ht * ht)  # backprop through tanh: 1 - ht^2
        grads["combine.weight"] += dpre.T @ cs
        grads["combine.bias"] += dpre.sum(axis=0)
        dcs = dpre @ P["combine.weight"]
        Dm = self.Dm
        dc, ds = dcs[:, :Dm], dcs[:, Dm:].copy()
        de = None
        if pg is not None:
            dlog = dpg * pg * (1.0 - pg)  # through the sigmoid of p_gen
            grads["copy.weight_context"] += dlog @ c
            grads["copy.weight_state"] += dlog @ s
            grads["copy.weight_input"] += dlog @ e
            grads["copy.bias"] += dlog.sum()
            dc = dc + dlog[:, None] * P["copy.weight_context"]
            ds += dlog[:, None] * P["copy.weight_state"]
            de = dlog[:, None] * P["copy.weight_input"]
        if self.kind == "none":
            acc["dfixed"] += dc
        else:
            M, keys = acc["M"], acc["keys"]
            da = np.matmul(M, dc[:, :, None])[:, :, 0]  # c_t = sum_i a_i M_i: da_i = dc . M_i
            acc["a"][t], acc["dc"][t] = a, dc  # dM = sum_t a_t dc_t^T, one batched GEMM after the loop
            if da_extra is not None:
                da += da_extra
            if gcov is not None:
                da += gcov  # a_t is part of every later coverage vector
            dscore = att.masked_softmax_backward(a, da)
            dkeys, ds_att, dcov = att.score_backward(self.kind, P["attention"], keys, sc, dscore, grads["attention"])
            acc["dkeys"] += dkeys
            ds += ds_att
            if gcov is not None:
                gcov = gcov + dcov
                if dcov_extra is not None:
                    gcov += dcov_extra
        # the stacked cells, top to bottom
        d_above = ds
        dstates_prev = [None] * self.L
        for layer in reversed(range(self.L)):
            dnext = dstates[layer]
            if layer < self.L - 1:
                drop = None if masks is None else masks.dropout[layer]
                d_above = d_above if drop is None else d_above * drop[min(t, drop.shape[0] - 1)]
            if self.has_cell_state:
                dh = d_above if dnext is None else d_above + dnext[0]
                dst = (dh, None if dnext is None else dnext[1])
            else:
                dst = d_above if dnext is None else d_above + dnext
            into = {name: grads["rnn"][f"{name}_l{layer}"] for name in P["rnn"][layer]}
            if self.fam.adds_into_grads:
                _, dx, dst0 = self.fam.backward(P["rnn"][layer], ccs[layer], None, dst, grads_out=into)
            else:  # a family whose backward returns fresh arrays (the layer-normalised ones)
                g, dx, dst0 = self.fam.backward(P["rnn"][layer], ccs[layer], None, dst)
                for name, arr in g.items():
                    into[name] += arr
            dstates_prev[layer] = dst0
            d_above = dx[0]
        E = self.E
        de = d_above[:, :E] if de is None else de + d_above[:, :E]
        acc["de"][t] = de  # scattered into the embedding's gradient once, after the loop
        dfeed_prev = d_above[:, E:] if self.cfg.input_feeding else None
        return dfeed_prev, dstates_prev, gcov
