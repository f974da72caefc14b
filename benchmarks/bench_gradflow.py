"""The notes' claims on untrained layers: vanishing gradients, the spectral bound, binary gates, clipping.

Prints ||dL_T/ds_0|| / ||dL_T/ds_T|| for the four cells at PyTorch's initialisation (the figure of
those curves is ``rnnkit analyze gradflow``'s), and writes to ``--figures`` (default docs/figures):

- ``spectrum_bound.png``: singular values of a tanh RNN's W_hh rescaled to sigma_max in {0.8, 1.0, 1.5},
  and the measured norms of k-step Jacobian products (largest over the batch) against (sigma_max)^k.
- ``gradflow_clamped.png``: the "binary gates" of the notes: LSTM i=1,f=0,o=1, GRU r=1,z=0 and MGU f=1
  behave as the plain RNN; an LSTM with f=1 carries the gradient back unchanged.
- ``clipping.png``: a tanh RNN with sigma_max = 2 trained by SGD with and without gradient clipping.

    python benchmarks/bench_gradflow.py

Prints a summary line per curve. No training except the clipping demo (about a minute).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rnnkit.analysis import gradient_flow, plots, recurrent_spectrum
from rnnkit.analysis.experiments import clipping_demo, task_data
from rnnkit.cells import registry
from rnnkit.layers import GRU, LSTM, MGU, RNN, recurrent_layer

HERE = Path(__file__).resolve().parent


def _summary(label, flow) -> str:
    c = flow.grad_curve
    return f"{label:<24} |dL/ds_0| / |dL/ds_T| {c[0] / c[-1]:10.3e}   decay per step {flow.decay_per_step():.3f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clip-steps", type=int, default=300, help="updates of the clipping demo")
    ap.add_argument("--figures", default=str(HERE.parent / "docs" / "figures"))
    args = ap.parse_args(argv)
    T, H, seed = args.length, args.hidden, args.seed
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    x, _ = task_data("adding", args.batch, T, np.random.default_rng(seed))
    x = x.astype(np.float64)
    out = {}

    # 1. untrained cells at PyTorch's initialisation
    flows = {
        c: gradient_flow(recurrent_layer(c, 2, H, dtype=np.float64, seed=seed), x, seed=seed, jacobians=False)
        for c in registry.names(model_choice=True)
    }
    print(f"gradient of a last-step loss, T = {T}, H = {H}, at initialisation (decay per step: fitted factor)")
    for c, f in flows.items():
        print(_summary(c, f))
    out["untrained"] = flows

    # 2. the SVD argument: k-step products of a tanh RNN against sigma_max^k
    K = min(T, 60)
    spectra, measured, bounds = {}, {}, {}
    for sigma in (0.8, 1.0, 1.5):
        rnn = RNN(2, H, dtype=np.float64, seed=seed)
        rnn.params["weight_hh_l0"] *= sigma / recurrent_spectrum(rnn).sigma_max()
        spec = recurrent_spectrum(rnn)
        by_k = gradient_flow(rnn, x[:K], seed=seed).jacobian_by_steps()  # (K+1, B)
        label = f"sigma_max {sigma:g}"
        spectra[label] = spec.singular_values["weight_hh_l0"]["h"]
        measured[label] = by_k.max(axis=1)
        bounds[label] = spec.bound(K)
        ok = bool(np.all(by_k <= bounds[label][:, None] * (1 + 1e-9)))
        print(
            f"tanh RNN, {label}: largest ||ds_T/ds_(T-{K})|| = {by_k[-1].max():.3e}, bound {bounds[label][-1]:.3e}, "
            f"bound holds at every k: {ok}"
        )
    plots.plot_spectrum(
        spectra, measured=measured, bounds=bounds, title=f"tanh RNN, H = {H}: singular values of W_hh"
    ).savefig(figures / "spectrum_bound.png", dpi=90)
    out["bound"] = (measured, bounds)

    # 3. binary gates: clamped gated cells are plain RNNs; a forget gate at 1 keeps the gradient
    variants = {
        "rnn": RNN(2, H, dtype=np.float64, seed=seed),
        "lstm (free)": LSTM(2, H, dtype=np.float64, seed=seed),
        "lstm i=1 f=0 o=1": LSTM(2, H, dtype=np.float64, seed=seed).clamp_gates(i=1, f=0, o=1),
        "lstm f=1": LSTM(2, H, dtype=np.float64, seed=seed).clamp_gates(f=1),
        "gru r=1 z=0": GRU(2, H, dtype=np.float64, seed=seed).clamp_gates(r=1, z=0),
        "mgu f=1": MGU(2, H, dtype=np.float64, seed=seed).clamp_gates(f=1),
    }
    clamped = {k: gradient_flow(layer, x, seed=seed, jacobians=False) for k, layer in variants.items()}
    print("binary gates (clamp_gates), same initialisation:")
    for k, f in clamped.items():
        print(_summary(k, f))
    plots.plot_gradient_flow(
        {k: f.grad_curve for k, f in clamped.items()}, title=f"Binary gates: clamped cells, T = {T}"
    ).savefig(figures / "gradflow_clamped.png", dpi=90)
    out["clamped"] = clamped

    # 4. exploding gradients and clipping
    runs = clipping_demo(steps=args.clip_steps, hidden_size=H, seed=seed)
    for label, r in runs.items():
        loss = r["loss"]
        print(
            f"clipping demo, {label}: {len(loss)} updates made, {r['skipped']} skipped (overflow); "
            f"largest gradient norm {np.nanmax(r['grad_norm']):.3e}; last loss {loss[-1]:.4g}"
        )
    plots.plot_clipping(runs, title="tanh RNN with sigma_max(W_hh) = 2, SGD lr 0.1, adding problem T = 50").savefig(
        figures / "clipping.png", dpi=90
    )
    out["clipping"] = runs
    return out


if __name__ == "__main__":
    main()
