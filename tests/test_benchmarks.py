"""``python -m benchmarks`` runs to its end at its smallest size and reports every target."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import speed
from benchmarks.run import SPLIT_THREADS, cpu_features, main
from benchmarks.training import Path


@pytest.mark.slow
def test_tiny_benchmark_runs_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    try:
        assert main(["--tiny", "--json", str(out)]) == 0
    finally:
        speed.SIZE.clear()  # --tiny shrinks the benchmark's models for this process
    results = json.loads(out.read_text())
    for section in ("generation", "sampling", "training", "parsing", "memory", "context",
                    "targets"):
        assert section in results, section
    assert results["generation"]["windowed_equals_naive"] is True
    rows = results["training"]["rows"]
    assert "ours (lstm_impl=fast)" in rows and all(r["samples_per_s"] > 0 for r in rows.values())
    # the thread paths ran in processes of their own, each compared with the port given the same
    assert f"ours (lstm_impl=fast; threads {SPLIT_THREADS})" in rows
    port_split = rows[f"plain Keras 3 port (arrays, one-hot; threads {SPLIT_THREADS})"]
    assert port_split["ratio_same_threads"] == 1.0 and port_split["threads"] == SPLIT_THREADS
    assert rows["plain Keras 3 port (arrays, one-hot)"]["ratio"] == 1.0
    assert results["memory"]["ours"]["shapes"][1][0] > 0  # a batch came out of the tf.data pipeline
    check_sampling(results["sampling"])
    targets = [r[0] for r in results["targets"]]
    assert any("1.5x" in t for t in targets) and any("1.6x" in t for t in targets)
    sampled = [r for r in results["targets"] if "1.3x" in r[0] or "default kernel" in r[0]]
    assert len(sampled) == 3 and all(r[2] in ("met", "missed") for r in sampled), sampled
    printed = capsys.readouterr().out
    assert "CPU features:" in printed and "Targets of issues 14 and 25" in printed
    assert "Sampled generation, ms per note" in printed and "predict.py end to end" in printed
    assert "a windowed note is" in printed and "x the naive loop at most" in printed
    assert "1.5x the port needs" in printed
    if "AVX512_BF16" in results["cpu_features"] or "AMX-BF16" in results["cpu_features"]:
        assert "ours (precision=mixed_bfloat16)" in rows
    else:
        assert "not measured: no bf16 instructions" in printed


def finite_positive(x) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def check_sampling(result: dict) -> None:
    """Every family x engine x kernel timed argmax and each sampler; no timing is asserted."""
    rows = result["rows"]
    for family in ("classic", "tokens", "pianoroll"):
        for engine in ("windowed", "stateful"):
            for kernel in ("fused", "layers"):  # --tiny leaves xla out
                r = rows[f"{family}, {engine}, kernel={kernel}"]
                assert set(r["ms"]) == {"argmax", *r["ratio"]} and len(r["ratio"]) >= 2, r
                assert all(map(finite_positive, [*r["ms"].values(), *r["ratio"].values()])), r
            kernel = "layers" if (family, engine) == ("pianoroll", "windowed") else "fused"
            auto = result["default_vs_layers"][f"{family}, {engine} (auto = {kernel})"]
            assert all(map(finite_positive, auto.values())), auto
    assert len(rows["classic, windowed, kernel=fused"]["ratio"]) == 3  # T, top-k, T + top-p
    assert finite_positive(result["worst_ratio"])
    e2e = result["end_to_end"]
    assert all(map(finite_positive, [*e2e["seconds"].values(), e2e["ratio"]])), e2e


def test_cpu_features_come_from_cpuinfo():
    flags = open("/proc/cpuinfo").read()
    found = cpu_features()
    assert ("AVX2" in found) == (" avx2" in flags)
    assert ("AMX" in found) == (" amx_tile" in flags)


def test_training_path_specs():
    fast = Path("lstm_impl=fast,precision=float32@1,2")
    assert (fast.variant, fast.threads, fast.is_port) == ("lstm_impl=fast,precision=float32", "1,2",
                                                          False)
    assert fast.overrides == {"lstm_impl": "fast", "precision": "float32"}
    assert fast.label == "ours (lstm_impl=fast,precision=float32; threads 1,2)"
    assert Path("port").label == "plain Keras 3 port (arrays, one-hot)"
    assert Path("port@2,1").label == "plain Keras 3 port (arrays, one-hot; threads 2,1)"
    assert Path("default").overrides == {} and Path("default").threads is None
