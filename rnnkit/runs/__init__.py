"""The run layer: train, evaluate and use a model into and from a run directory; the CLI only parses flags.

- :mod:`rnnkit.runs.seq2seq`: encoder-decoders (``rnnkit seq2seq train|translate|eval``).
"""
