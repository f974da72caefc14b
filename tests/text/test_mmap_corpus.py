"""Memory-mapped corpora: the same tokens, batches and losses as from memory, with bounded resident memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.batches import StreamBatches
from rnnkit.cli import main
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.optim import SGD
from rnnkit.runs import lm as lmrun
from rnnkit.text.data import batchify
from rnnkit.text.mmap_corpus import (
    MappedStreamBatches,
    TokenIds,
    load_meta,
    prepare,
    stream_from_prepared,
    write_token_ids,
)
from rnnkit.trainer import Trainer, TrainerConfig

from helpers import PACKAGE_PARENT

ROOT = Path(__file__).resolve().parents[2]

TEXT = (
    "the cat sat on the mat\r\n"
    "\n"
    "a dog ran far \x0c away\n"
    "the end of   the line\rnext line\n" + "".join(f"word{i % 13} w{i % 7} the\n" for i in range(300)) + "no newline"
)


@pytest.mark.parametrize("level", ["word", "char"])
def test_prepare_gives_the_in_memory_tokens_and_vocabulary(tmp_path, level):
    src = tmp_path / "text.txt"
    src.write_bytes(TEXT.encode())
    meta = prepare(src, tmp_path / "prep", level=level, min_count=2, chunk_tokens=7)
    cfg = lmrun.LMTrainConfig(data=str(src), level=level, min_count=2)
    tokens = lmrun.tokenize(lmrun.read_text(src), level)
    vocab = lmrun.make_vocab(tokens, cfg)
    _, mapped_vocab = load_meta(tmp_path / "prep")
    assert mapped_vocab == vocab
    ids = np.load(tmp_path / "prep" / "train.npy", mmap_mode="r", allow_pickle=False)
    assert meta["tokens"]["train"] == len(tokens) and np.array_equal(ids, vocab.encode(tokens))
    assert not [p.name for p in (tmp_path / "prep").iterdir() if p.name.endswith(".tmp")]


def test_a_short_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="length=10"):
        write_token_ids(tmp_path / "ids.npy", [np.arange(4)], 10, np.int32)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("B", "k1", "k2"), [(3, 5, None), (4, 6, 9), (1, 50, None)])
def test_mapped_windows_equal_in_memory_windows(tmp_path, B, k1, k2):
    ids = np.random.default_rng(0).integers(0, 50, size=503)
    write_token_ids(tmp_path / "ids.npy", [ids[:200], ids[200:]], ids.size, np.int32)
    mem = StreamBatches(batchify(ids, B), k1, k2)
    mapped = MappedStreamBatches(TokenIds(tmp_path / "ids.npy"), B, k1, k2, release_every=2)
    assert len(mapped) == len(mem)
    for i in range(len(mem)):
        a, b = mem.batch(0, i), mapped.batch(0, i)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and b.x.dtype == np.int64
        assert (a.loss_from, a.carry) == (b.loss_from, b.carry)


def test_training_from_the_mapping_gives_the_same_losses(tmp_path):
    src = tmp_path / "text.txt"
    src.write_bytes(TEXT.encode())
    prepare(src, tmp_path / "prep", level="word", valid=src)
    tokens = lmrun.tokenize(lmrun.read_text(src), "word")
    vocab = lmrun.make_vocab(tokens, lmrun.LMTrainConfig(data=str(src), level="word"))
    sources = {
        "memory": (lmrun.stream_source(vocab.encode(tokens), 4, 6, "data"),) * 2,
        "mapped": tuple(stream_from_prepared(tmp_path / "prep", s, 4, 6) for s in ("train", "valid")),
    }
    runs = {}
    for name, (train, valid) in sources.items():
        cfg = RNNLMConfig(vocab_size=len(vocab), embedding_size=8, hidden_size=8, num_layers=1, dropout=0.2, seed=1)
        model = RNNLM(cfg)
        trainer = Trainer(
            model, SGD(model.params, model.grads, lr=0.5), TrainerConfig(epochs=2, log_every=3, progress=False)
        )
        result = trainer.fit(train, valid)
        runs[name] = ([r["loss"] for r in result.history], model.params)
    assert runs["memory"][0] == runs["mapped"][0] and len(runs["memory"][0]) > 4
    for k, v in runs["memory"][1].items():
        assert np.array_equal(v, runs["mapped"][1][k]), k


_RSS_SCRIPT = """
import resource, sys
import numpy as np
from rnnkit.text.mmap_corpus import TokenIds, MappedStreamBatches
release = int(sys.argv[2])
src = MappedStreamBatches(TokenIds(sys.argv[1]), batch_size=20, k1=35, release_every=release or None)
total = 0
for i in range(len(src)):
    total += int(src.batch(0, i).x[0, 0])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux reports KiB
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB and MADV_DONTNEED: Linux")
def test_resident_memory_does_not_grow_with_the_corpus(tmp_path):
    """An epoch over a corpus 8x larger costs no more resident memory (and without release it would)."""
    sizes = {"small": 1_000_000, "large": 8_000_000}  # int32 ids: 4 MB and 32 MB
    rng = np.random.default_rng(0)
    for name, n in sizes.items():
        write_token_ids(
            tmp_path / f"{name}.npy", (rng.integers(0, 10000, 1_000_000) for _ in range(n // 1_000_000)), n, np.int32
        )

    def peak(name, release):
        # through `sh`, which forks: a child exec'd straight from pytest would inherit pytest's ru_maxrss
        cmd = [sys.executable, "-c", _RSS_SCRIPT, str(tmp_path / f"{name}.npy"), str(release)]
        out = subprocess.run(
            ["sh", "-c", '"$@"; exit $?', "sh", *cmd],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            cwd=ROOT,
            env={"PYTHONPATH": PACKAGE_PARENT, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        )
        return int(out.stdout.split()[-1])

    small, large = peak("small", 64), peak("large", 64)
    print(f"peak RSS: small {small / 1e6:.1f} MB, large {large / 1e6:.1f} MB")
    large_bytes = sizes["large"] * 4
    assert large - small < 0.1 * large_bytes, f"peak RSS grew by {(large - small) / 1e6:.1f} MB for a 32 MB corpus"
    kept = peak("large", 0)  # the same epoch, pages never released: the measurement can see the mapping
    print(f"without release: {kept / 1e6:.1f} MB")
    assert kept - small > 0.5 * large_bytes, f"without release the peak grew by only {(kept - small) / 1e6:.1f} MB"


def test_cli_prepare(tmp_path, capsys):
    src = tmp_path / "text.txt"
    src.write_bytes(TEXT.encode())
    assert main(["lm", "prepare", "--data", str(src), "--out", str(tmp_path / "p"), "--level", "char"]) == 0
    meta = json.loads((tmp_path / "p" / "corpus.json").read_text())
    assert meta["level"] == "char" and meta["tokens"]["train"] == len(lmrun.tokenize(TEXT, "char"))
    assert main(["lm", "prepare", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.txt" in err[0]


def test_lm_train_from_a_prepared_corpus_equals_training_from_text(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array("the cat sat on a mat and dog ran far".split())
    for name, n in (("t.txt", 150), ("v.txt", 30)):
        (tmp_path / name).write_text("".join(" ".join(rng.choice(words, 8)) + "\n" for _ in range(n)))
    prepare(tmp_path / "t.txt", tmp_path / "prep", valid=tmp_path / "v.txt", level="word")
    flags = "--level word --epochs 1 --max-minutes 0 --hidden-size 8 --embedding-size 8 --num-layers 1"
    flags += " --batch-size 4 --bptt 5 --no-progress"
    assert main(["lm", "train", "--data", str(tmp_path / "t.txt"), "--valid", str(tmp_path / "v.txt")]
                + flags.split() + ["--out", str(tmp_path / "a")]) == 0  # fmt: skip
    assert main(["lm", "train", "--data", str(tmp_path / "prep")] + flags.split() + ["--out", str(tmp_path / "b")]) == 0
    (a, vocab_a, _), (b, vocab_b, _) = lmrun.load_run(tmp_path / "a"), lmrun.load_run(tmp_path / "b")
    assert vocab_a == vocab_b
    for k, v in a.params.items():
        assert np.array_equal(v, b.params[k]), k
