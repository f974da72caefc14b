"""The maths of each recurrent cell family: plain NumPy forward/backward functions over whole sequences.

One module per family (``rnn``, ``gru``, ``lstm``, ``mgu``, and the layer-normalised ``ln_lstm``, ``ln_gru``), each with
``forward(params, x, state, ...) -> (out, state_T, cache)`` and
``backward(params, cache, dout, dstate_T) -> (grads, dx, dstate_0)``;
see ``rnnkit.cells.common`` for the shared contract. ``rnnkit.cells.registry`` is the one list
of families: a ``CellFamily`` entry per family says what the rest of the library needs to know
(docs/adding-a-cell.md). Nothing here imports a layer, a model or a loop backend.
"""

from rnnkit.cells import gru, ln_gru, ln_lstm, lstm, mgu, registry, rnn

__all__ = ["rnn", "gru", "lstm", "mgu", "ln_lstm", "ln_gru", "registry"]
