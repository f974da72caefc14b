"""The pieces of data-parallel training that need no MPI: bucket layout, averaging, shards, sharded masks."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.batches import ArrayBatches, StreamBatches
from rnnkit.distributed.buckets import GradientBuckets, weights_checksum
from rnnkit.distributed.shard import ShardedGenerator, ShardedSource, ShardInfo
from rnnkit.layers import LSTM, Dropout


class FakeComm:
    """A 'world' of `size` ranks that all hold the same gradients: a sum multiplies by size."""

    def __init__(self, size):
        self.rank, self.size, self.launched = 0, size, []

    def iallreduce_(self, buf):
        self.launched.append(buf.size)
        buf *= self.size
        return object()

    def waitall(self, requests):
        pass

    def testall(self, requests):
        return True


def _grads(dtype=np.float64):
    rng = np.random.default_rng(0)
    shapes = {
        "embedding.weight": (50, 8),
        "rnn.weight_ih_l0": (32, 8),
        "rnn.bias_ih_l0": (32,),
        "decoder.weight": (50, 8),
    }
    return {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_buckets_average_and_respect_their_size(dtype):
    grads = _grads(dtype)
    ref = {k: v.copy() for k, v in grads.items()}
    comm = FakeComm(4)
    b = GradientBuckets(grads, comm, bucket_bytes=50 * 8 * np.dtype(dtype).itemsize)
    assert b.names[0] == "decoder.weight"  # the last registered is the first final in backward
    assert [len(x) for x in b.buckets] == [1, 3] and b.flat.size == sum(g.size for g in grads.values())
    b.begin()
    extras = b.finish(grads, [3.5, 7.0])
    assert extras.tolist() == [14.0, 28.0]  # summed, not averaged
    assert comm.launched == [2, 400, 32 + 256 + 400]  # the extras first, then one message per bucket
    for k in ref:
        assert np.array_equal(grads[k], ref[k]), k  # mean of 4 equal copies = the copy (exact: powers of two)


def test_ready_launches_a_bucket_once_all_its_gradients_are_final():
    grads = _grads()
    comm = FakeComm(2)
    b = GradientBuckets(grads, comm, bucket_bytes=400 * 8)
    b.begin()
    b.ready(["rnn.bias_ih_l0"], grads)
    assert comm.launched == []  # its bucket also holds rnn.weight_ih_l0
    b.ready(["decoder.weight"], grads)
    assert comm.launched == [400]
    b.finish(grads, [0.0, 0.0])
    assert sorted(comm.launched) == sorted([400, 32 + 256 + 400, 2])


def test_checksum_tells_apart_permuted_weights():
    a = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([1.0, 0.0])}
    b = {"w": np.array([[3.0, 4.0], [1.0, 2.0]]), "b": np.array([0.0, 1.0])}
    assert weights_checksum(a)[0] == weights_checksum(b)[0]
    assert not np.array_equal(weights_checksum(a), weights_checksum(b))


def test_shards_of_a_stream_and_of_an_array_source_cover_the_batch():
    stream = StreamBatches(np.arange(60).reshape(10, 6), k1=4)
    parts = [ShardedSource(stream, r, 3).batch(0, 1) for r in range(3)]
    assert np.array_equal(np.concatenate([p.x for p in parts], axis=1), stream.batch(0, 1).x)
    arrays = ArrayBatches(np.arange(40).reshape(20, 2), np.arange(20), batch_size=8, seed=1)
    parts = [ShardedSource(arrays, r, 2).batch(3, 1) for r in range(2)]
    full = arrays.batch(3, 1)
    for i in range(2):
        assert np.array_equal(np.concatenate([p[i] for p in parts]), full[i])
    with pytest.raises(ValueError, match="divisible by the number of processes 4, got 6"):
        ShardedSource(stream, 0, 4)


@pytest.mark.parametrize("variational", [False, True])
def test_sharded_masks_are_the_rows_of_the_combined_batch_masks(variational):
    x = np.ones((5, 6, 7))
    whole = Dropout(0.5, variational, seed=3).forward(x)
    parts = []
    for rank in range(3):
        drop = Dropout(0.5, variational, seed=3)
        shard = ShardInfo()
        shard.set(6, 2 * rank, 2 * rank + 2)
        drop.rng = ShardedGenerator(drop.rng.bit_generator, shard)
        parts.append(drop.forward(x[:, 2 * rank : 2 * rank + 2]))
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_sharded_recurrent_and_weight_masks_match_the_combined_batch():
    kw = dict(num_layers=2, dropout=0.3, recurrent_dropout=0.3, weight_drop=0.3, seed=4, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((6, 4, 3))
    whole, _ = LSTM(3, 5, **kw).forward(x)
    parts = []
    for rank in range(2):
        layer = LSTM(3, 5, **kw)
        shard = ShardInfo()
        shard.set(4, 2 * rank, 2 * rank + 2)
        layer.rng = ShardedGenerator(layer.rng.bit_generator, shard)
        parts.append(layer.forward(x[:, 2 * rank : 2 * rank + 2])[0])
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=0, atol=1e-14)
