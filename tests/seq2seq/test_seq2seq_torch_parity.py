"""The same seq2seq model written in PyTorch from the equations (autograd reference), compared in float64.

Same weights (the model's state dict), same batch: loss, attention weights and every gradient to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest
from s2s_common import hierarchical_batch, random_batch, randomize, tiny_config

from rnnkit.seq2seq import Seq2Seq

torch = pytest.importorskip("torch")


# -- cells (PyTorch's gate orders; MGU as Zhou et al. 2016) -------------------------------------------
def cell_step(cell, x, state, w_ih, w_hh, b_ih, b_hh, r=None):
    """One step; ``r`` (recurrent dropout) multiplies h_{t-1} where it enters the recurrent product only."""
    hr = (state[0] if cell == "lstm" else state) * (1.0 if r is None else r)
    if cell == "rnn":
        return torch.tanh(x @ w_ih.T + b_ih + hr @ w_hh.T + b_hh)
    if cell == "gru":
        gi, gh = x @ w_ih.T + b_ih, hr @ w_hh.T + b_hh
        H = state.shape[1]
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1 - z) * n + z * state
    if cell == "mgu":
        H = state.shape[1]
        gi = x @ w_ih.T + b_ih
        f = torch.sigmoid(gi[:, :H] + state @ w_hh[:H].T + b_hh[:H])
        n = torch.tanh(gi[:, H:] + (f * state) @ w_hh[H:].T + b_hh[H:])
        return (1 - f) * state + f * n
    h, c = state
    H = h.shape[1]
    g = x @ w_ih.T + b_ih + hr @ w_hh.T + b_hh
    i, f, gg, o = (g[:, k * H : (k + 1) * H] for k in range(4))
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    return torch.sigmoid(o) * torch.tanh(c), c


def blend(new, old, m):
    """h = old + m (new - old): a finished sequence keeps its state."""
    if isinstance(new, tuple):
        return tuple(blend(a, b, m) for a, b in zip(new, old))
    return old + m * (new - old)


def reverse_index(T, lengths):
    t = np.arange(T)[:, None]
    return torch.tensor(np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t))


def run_layers(cell, P, prefix, x, lengths, layers, dirs, H):
    """Stacked (bi)directional recurrence over x (T, B, D) with lengths; returns (out (T, B, dirs*H), finals)."""
    T, B, _ = x.shape
    m = torch.tensor((np.arange(T)[:, None] < lengths[None, :]).astype(np.float64))[:, :, None]
    rev = reverse_index(T, lengths)
    cols = torch.arange(B)[None, :].expand(T, B)
    finals = []
    for k in range(layers):
        outs = []
        for d in range(dirs):
            s = "_reverse" if d else ""
            w = [P[f"{prefix}{n}_l{k}{s}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            xin = x if d == 0 else x[rev, cols]
            zero = torch.zeros(B, H, dtype=torch.float64)
            state = (zero, zero) if cell == "lstm" else zero
            hs = []
            for t in range(T):
                state = blend(cell_step(cell, xin[t], state, *w), state, m[t])
                hs.append((state[0] if cell == "lstm" else state) * m[t])
            out = torch.stack(hs)
            outs.append(out if d == 0 else out[rev, cols])
            finals.append(state)
        x = torch.cat(outs, dim=-1)
    return x, finals[-dirs:]


def cat_finals(finals, i=None):
    return torch.cat([f if i is None else f[i] for f in finals], dim=1)


def reference(model, batch, inputs=None, masks=None):
    """Loss, attention (T, B, S) and gradients of every parameter, by autograd.

    ``inputs`` (T, B): the tokens fed (scheduled sampling's); ``masks``: the decoder's DecoderMasks."""
    c = model.cfg
    P = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    lstm = c.cell == "lstm"
    dirs, H, L = c.directions, c.decoder_hidden, c.decoder_layers
    # encoder
    if c.encoder == "flat":
        x = P["encoder.embedding.weight"][torch.tensor(batch.src)]
        out, finals = run_layers(c.cell, P, "encoder.rnn.", x, batch.src_lengths, c.encoder_layers, dirs, c.hidden_size)
    else:
        N, W, B = batch.src.shape
        real = np.arange(N)[:, None] < batch.src_lengths[None, :]
        wl = np.where(real, batch.word_lengths, 1).reshape(N * B)
        x = P["encoder.embedding.weight"][torch.tensor(batch.src.transpose(1, 0, 2).reshape(W, N * B))]
        _, wf = run_layers(c.cell, P, "encoder.word_rnn.", x, wl, c.encoder_layers, dirs, c.hidden_size)
        u = cat_finals(wf, 0 if lstm else None).reshape(N, B, -1)
        out, finals = run_layers(
            c.cell, P, "encoder.sentence_rnn.", u, batch.src_lengths, c.encoder_layers, dirs, c.hidden_size
        )
    M = out.transpose(0, 1)  # (B, S, Dm)
    B, S, Dm = M.shape
    mask = torch.tensor(np.arange(S)[None, :] < batch.src_lengths[:, None])
    fh = cat_finals(finals, 0 if lstm else None)
    # bridge
    if c.bridge == "projection":
        y = torch.tanh(fh @ P["bridge.weight"].T + P["bridge.bias"])
        hs = [y[:, k * H : (k + 1) * H] for k in range(L)]
        if lstm:
            fc = cat_finals(finals, 1)
            yc = torch.tanh(fc @ P["bridge.weight_c"].T + P["bridge.bias_c"])
            cs = [yc[:, k * H : (k + 1) * H] for k in range(L)]
    elif c.bridge == "concat":
        hs = [fh] * L
        cs = [cat_finals(finals, 1)] * L if lstm else None
    else:
        hs = [torch.zeros(B, H, dtype=torch.float64)] * L
        cs = hs
    states = [(h, cc) for h, cc in zip(hs, cs)] if lstm else hs
    # decoder
    A = "decoder.attention."
    T = batch.tgt_in.shape[0]
    feed = torch.zeros(B, H, dtype=torch.float64)
    cov = torch.zeros(B, S, dtype=torch.float64)
    real_t = torch.tensor((np.arange(T)[:, None] < batch.tgt_lengths[None, :]).astype(np.float64))
    nll = 0.0
    cov_loss = 0.0
    attns = []
    for t in range(T):
        fed = batch.tgt_in if inputs is None else inputs
        tok = torch.tensor(np.where(fed[t] >= c.tgt_vocab_size, c.unk_id, fed[t]))
        e = P["decoder.embedding.weight"][tok]
        inp = torch.cat([e, feed], 1) if c.input_feeding else e
        new = []
        for k in range(L):
            w = [P[f"decoder.rnn.{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            if masks is None:
                st = cell_step(c.cell, inp, states[k], *w)
            else:
                rm, zm, zc = masks.recurrent[k], masks.zoneout[k], masks.zoneout_c[k]
                r = None if rm is None else torch.tensor(rm[min(t, len(rm) - 1)])
                st = cell_step(c.cell, inp, states[k], *w, r=r)
                if zm is not None:  # zoneout: h_t = h_{t-1} + u (f - h_{t-1})
                    if lstm:
                        st = (
                            blend(st[0], states[k][0], torch.tensor(zm[t])),
                            blend(st[1], states[k][1], torch.tensor(zc[t])),
                        )
                    else:
                        st = blend(st, states[k], torch.tensor(zm[t]))
            new.append(st)
            inp = st[0] if lstm else st
            if masks is not None and k < L - 1 and masks.dropout[k] is not None:
                dm = masks.dropout[k]
                inp = inp * torch.tensor(dm[min(t, len(dm) - 1)])
        states = new
        s = inp
        if c.attention == "none":
            ctx = fh
        else:
            if c.attention == "dot":
                score = torch.einsum("bsd,bd->bs", M, s)
            elif c.attention == "general":
                score = torch.einsum("bsd,hd,bh->bs", M, P[A + "weight"], s)
            else:
                if c.attention == "concat":
                    Wt = P[A + "weight"]
                    pre = torch.cat([s[:, None, :].expand(B, S, H), M], dim=2) @ Wt.T  # v . tanh(W [s; h_i] + ...)
                else:
                    pre = M @ P[A + "weight_h"].T + (s @ P[A + "weight_s"].T + P[A + "bias"])[:, None, :]
                if c.coverage:
                    pre = pre + cov[:, :, None] * P[A + "weight_cov"]
                score = torch.tanh(pre) @ P[A + "v"]
            a = torch.softmax(score.masked_fill(~mask, -torch.inf), dim=1)
            attns.append(a)
            ctx = torch.einsum("bs,bsd->bd", a, M)
            if c.coverage:
                cov_loss = cov_loss + (real_t[t][:, None] * torch.minimum(a, cov)).sum()
                cov = cov + a
        ht = torch.tanh(torch.cat([ctx, s], 1) @ P["decoder.combine.weight"].T + P["decoder.combine.bias"])
        feed = ht
        z = ht @ P["decoder.out.weight"].T + P["decoder.out.bias"]
        y = torch.tensor(np.where(real_t[t].numpy() > 0, batch.tgt_out[t], 0))
        if c.copy:
            Cp = "decoder.copy."
            pg = torch.sigmoid(
                ctx @ P[Cp + "weight_context"]
                + s @ P[Cp + "weight_state"]
                + e @ P[Cp + "weight_input"]
                + P[Cp + "bias"]
            )
            dist = torch.zeros(B, c.tgt_vocab_size + batch.n_oov, dtype=torch.float64)
            dist = torch.cat([pg[:, None] * torch.softmax(z, 1), dist[:, c.tgt_vocab_size :]], 1)
            dist = dist.scatter_add(1, torch.tensor(batch.src_ext.T), (1 - pg)[:, None] * a)
            logp = torch.log(dist.gather(1, y[:, None])[:, 0])
        else:
            logp = torch.log_softmax(z, 1).gather(1, y[:, None])[:, 0]
        nll = nll - (real_t[t] * logp).sum()
    loss = nll + c.coverage_loss_weight * cov_loss
    loss.backward()
    attn = torch.stack(attns).detach().numpy() if attns else None
    return (
        float(loss.detach()),
        attn,
        {k: v.grad.numpy() if v.grad is not None else np.zeros(v.shape) for k, v in P.items()},
    )


CASES = {
    "none": dict(attention="none"),
    "dot": dict(attention="dot"),
    "general": dict(attention="general"),
    "concat": dict(attention="concat"),
    "additive": dict(attention="additive"),
    "additive-feed": dict(attention="additive", input_feeding=True),
    "dot-feed-2layers": dict(attention="dot", input_feeding=True, decoder_layers=2),
    "copy": dict(copy=True),
    "coverage-loss": dict(coverage=True, coverage_loss_weight=0.7),
    "copy-coverage-concat-feed": dict(
        attention="concat", copy=True, coverage=True, coverage_loss_weight=0.3, input_feeding=True
    ),
    "bi-lstm-2x2": dict(cell="lstm", bidirectional=True, encoder_layers=2, decoder_layers=2),
    "bi-lstm-concat-bridge": dict(cell="lstm", bidirectional=True, bridge="concat", attention="general"),
    "bi-rnn-zeros": dict(cell="rnn", bidirectional=True, bridge="zeros"),
    "mgu-bi-2": dict(cell="mgu", bidirectional=True, encoder_layers=2, input_feeding=True),
    "regularisers-gru": dict(decoder_layers=3, dropout=0.3, recurrent_dropout=0.3, zoneout=0.25, input_feeding=True),
    "regularisers-lstm-variational": dict(
        cell="lstm", decoder_layers=2, dropout=0.3, recurrent_dropout=0.3, zoneout=0.25, variational=True
    ),
    "regularisers-rnn": dict(cell="rnn", decoder_layers=2, dropout=0.4, recurrent_dropout=0.2, zoneout=0.2),
    "scheduled-sampling": dict(scheduled_sampling=0.6, copy=True, coverage=True, coverage_loss_weight=0.2),
}


def compare(model, batch):
    out = model.forward(batch)
    res = model.loss(out, batch)
    model.zero_grad()
    model.backward(res)
    loss, attn, grads = reference(model, batch, out.decoder_inputs, out.decoder_masks)
    assert abs(res.loss - loss) < 1e-10, (res.loss, loss)
    if attn is not None:
        assert np.max(np.abs(out.attention - attn)) < 1e-12
    for name, g in model.grads.items():
        err = float(np.max(np.abs(g - grads[name])))
        assert err < 1e-10, f"{name}: max abs error {err:.3e} against autograd"


@pytest.mark.parametrize("name", list(CASES))
def test_matches_autograd(name):
    kw = CASES[name]
    model = randomize(Seq2Seq(tiny_config(**kw)), scale=0.8)
    compare(model, random_batch(seed=7, B=4, max_src=5, max_tgt=4, copy=kw.get("copy", False)))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hierarchical_matches_autograd(cell):
    model = randomize(Seq2Seq(tiny_config(encoder="hierarchical", cell=cell, bidirectional=True)), scale=0.8)
    compare(model, hierarchical_batch(seed=2, B=3))


def test_float32_model_matches_the_float64_reference():
    """The float32 default computes the same model: loss and gradients within float32 rounding."""
    from dataclasses import replace

    from helpers import assert_close

    kw = dict(cell="lstm", bidirectional=True, copy=True, coverage=True, coverage_loss_weight=0.5, input_feeding=True)
    m64 = randomize(Seq2Seq(tiny_config(**kw)), scale=0.8)
    m32 = Seq2Seq(replace(m64.cfg, dtype="float32"))
    m32.load_state_dict(m64.state_dict())
    batch = random_batch(seed=7, B=4, max_src=5, max_tgt=4, copy=True)
    out = m32.forward(batch)
    res = m32.loss(out, batch)
    m32.zero_grad()
    m32.backward(res)
    loss, attn, grads = reference(m64, batch)
    assert_close("loss", np.float32(res.loss), np.array(loss), 1e-5)
    assert_close("attention", out.attention, attn, 1e-5)
    for name, g in m32.grads.items():
        assert g.dtype == np.float32
        assert_close(name, g, grads[name], 1e-4)
