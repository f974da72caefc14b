"""benchmarks/bench_seq2seq.py on tiny problems, into a temporary results file: it must keep running.

No figure is asserted (results live in benchmarks/RESULTS.md); the helpers that compute them are checked.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_seq2seq.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_seq2seq", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--hidden-size", "8", "--embedding-size", "4", "--batch-size", "4", "--threads", "1"]


def test_speed_mode_appends_a_table(tmp_path):
    pytest.importorskip("torch")
    bench = _load()
    results = tmp_path / "RESULTS.md"
    out = bench.main(["--mode", "speed", "--repeats", "1", "--warmup", "0", "--results", str(results), *TINY])
    row = out["speed: one training step of the dates model"]["rows"][0]
    assert row["rnnkit_ms"] > 0 and row["torch_ms"] > 0
    text = results.read_text()
    assert text.startswith("# Benchmark results") and "bench_seq2seq.py --mode speed" in text
    assert "| shape | rnnkit ms | torch ms | torch / rnnkit |" in text


def test_repeated_attention_rate():
    bench = _load()
    diagonal = np.eye(4)
    stuck = np.tile([0.1, 0.7, 0.1, 0.1], (4, 1))  # the same position four times: three repeats
    assert bench.repeated_attention_rate([diagonal]) == 0.0
    assert bench.repeated_attention_rate([stuck]) == 0.75
    assert bench.repeated_attention_rate([diagonal, stuck]) == 3 / 8


def test_bad_mode():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.main(["--mode", "dates,nope"])


def test_every_training_mode_runs_tiny(tmp_path):
    pytest.importorskip("matplotlib")
    bench = _load()
    results, figure = tmp_path / "RESULTS.md", tmp_path / "reversal.png"
    argv = ["--mode", "dates,reversal,copy,coverage,beam", "--train-size", "24", "--valid-size", "4"]
    argv += ["--test-size", "6", "--test-per-length", "1", "--epochs", "1", "--minutes", "0", "--beam", "2"]
    out = bench.main(argv + ["--results", str(results), "--figure", str(figure), *TINY])
    assert len(out) == 5
    dates = out["dates"]["rows"]
    assert [r["model"] for r in dates] == ["attention (additive)", "plain"] and all(
        r["steps"] == 6 for r in dates
    )  # 24 pairs, batch 4
    curves = out["reversal: exact match against source length"]["curves"]
    assert list(curves) == ["no attention", "attention", "bidirectional + attention"]
    assert all(len(c) == 12 and all(0 <= x <= 1 for x in c) for c in curves.values())
    copy_rows = out["copy: targets with unseen words"]["rows"]
    assert all(r["outside"] == 1.0 for r in copy_rows)  # every test target needs a copied word
    beam = out["beam search against greedy on the model's log-probability"]["rows"][0]
    assert beam["beam"] == 2
    assert figure.read_bytes()[:4] == b"\x89PNG"
    text = results.read_text()
    for title in ("### dates", "### reversal", "### copy", "### coverage", "### beam"):
        assert title in text


def test_the_pytorch_twin_is_the_dates_model():
    """Same weights, same batch: the twin's loss and gradients equal rnnkit's (float64), so the speed
    comparison times the same computation."""
    torch = pytest.importorskip("torch")
    from rnnkit.runs import seq2seq as runs
    from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig
    from rnnkit.tasks.seq2seq_data import PairBatches, build_vocabularies, get_task

    bench = _load()
    cfg = runs.Seq2SeqRunConfig(task="dates", embedding_size=5, hidden_size=7)
    pairs = get_task("dates").pairs(6, seed=3)
    sv, tv = build_vocabularies(pairs, "char")
    data = PairBatches(pairs, sv, tv, "char", batch_size=6, shuffle=False).batch(0, 0)
    model = Seq2Seq(Seq2SeqConfig(**runs.model_config(cfg, sv, tv), dtype="float64"))
    model.zero_grad()
    res = model.train_step(runs.to_model_batch(data, cfg), None)
    net = bench._torch_dates_model(torch, len(sv), len(tv), 5, 7).double()
    bench.load_rnnkit_weights(torch, net, model.state_dict())
    tensors = [torch.from_numpy(a) for a in (data.src, data.src_lengths, data.tgt_in, data.tgt_out, data.tgt_lengths)]
    loss = net(*tensors)
    loss.backward()
    assert abs(float(loss.detach()) - res.loss_sum / res.count) < 1e-12
    grads = {name: p.grad.numpy() for name, p in net.named_parameters()}
    for twin, ours in bench.twin_parameter_names().items():
        assert np.abs(grads[twin] - model.grads[ours]).max() < 1e-12, twin
