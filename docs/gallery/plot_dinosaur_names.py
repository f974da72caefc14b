"""
A character-level model of dinosaur names
=========================================

The course's exercise: an RNN reads a name one character at a time and
predicts the next one, trained by :func:`rnnkit.course.optimize` (softmax
cross-entropy, backpropagation through time, element-wise clipping at 5, SGD)
on one name per step. The names are the course's list of dinosaur names when
it is found beside the repository (``../shared/data/dinos/dinos.txt``, or the
file named by ``RNNKIT_DINOS``), otherwise names made up by
:func:`rnnkit.course.generate_names`. The figure shows the training loss;
below it are names sampled from the model.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from rnnkit import course


def find_names():
    here = Path(__file__).resolve() if "__file__" in globals() else Path.cwd() / "plot_dinosaur_names.py"
    candidates = [os.environ.get("RNNKIT_DINOS")] + [
        str(parent / "shared" / "data" / "dinos" / "dinos.txt") for parent in here.parents
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c).read_text(encoding="utf-8").lower().split(), "the dinosaur names"
    return course.generate_names(1500, seed=0), "made-up names (the dinosaur list was not found)"


names, source = find_names()
char_to_ix, ix_to_char = course.build_vocab(names)
print(f"{len(names)} {source}, {len(char_to_ix)} characters")

# %%
# Training: one name per step
# ---------------------------
# ``optimize`` returns the loss of the name, summed over its characters; the
# hidden state is carried from one name to the next, as the course does.
rng = np.random.default_rng(0)
order = rng.permutation(len(names))
newline = char_to_ix["\n"]
parameters = course.initialize_parameters(n_a=50, n_x=len(char_to_ix), n_y=len(char_to_ix), seed=1)
a_prev = np.zeros((50, 1))
losses = []
for j in range(3000):
    name = names[order[j % len(names)]]
    X = [None] + [char_to_ix[ch] for ch in name]
    Y = X[1:] + [newline]
    loss, _, a_prev = course.optimize(X, Y, a_prev, parameters, learning_rate=0.01)
    losses.append(loss / len(Y))

window = 100
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(losses, alpha=0.3, label="per name")
ax.plot(np.arange(window - 1, len(losses)), smooth, label=f"mean of {window}")
ax.axhline(np.log(len(char_to_ix)), color="gray", linestyle=":", label="uniform guess")
ax.set_xlabel("training step (one name)")
ax.set_ylabel("cross-entropy per character (nats)")
ax.legend()
fig.tight_layout()

# %%
# Sampling
# --------
# ``sample`` feeds each drawn character back in until it draws the newline.
for seed in range(8):
    indices = course.sample(parameters, char_to_ix, seed=seed)
    print("".join(ix_to_char[i] for i in indices).strip().capitalize())
