"""``python -m benchmarks`` runs to its end at its smallest size and reports every target."""

from __future__ import annotations

import json

from benchmarks import speed
from benchmarks.run import cpu_features, main


def test_tiny_benchmark_runs_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    try:
        assert main(["--tiny", "--json", str(out)]) == 0
    finally:
        speed.SIZE.clear()  # --tiny shrinks the benchmark's models for this process
    results = json.loads(out.read_text())
    for section in ("generation", "training", "parsing", "memory", "context", "targets"):
        assert section in results, section
    assert results["generation"]["windowed_equals_naive"] is True
    rows = results["training"]["rows"]
    assert "ours (lstm_impl=fast)" in rows and all(r["samples_per_s"] > 0 for r in rows.values())
    assert results["memory"]["ours"]["shapes"][1][0] > 0  # a batch came out of the tf.data pipeline
    targets = [r[0] for r in results["targets"]]
    assert any("1.5x" in t for t in targets) and any("1.6x" in t for t in targets)
    printed = capsys.readouterr().out
    assert "CPU features:" in printed and "Targets of issue 14" in printed
    assert "a windowed note is" in printed and "x the naive loop at most" in printed
    assert "1.5x the port needs" in printed
    if "AVX512_BF16" in results["cpu_features"] or "AMX-BF16" in results["cpu_features"]:
        assert "ours (precision=mixed_bfloat16)" in rows
    else:
        assert "not measured: no bf16 instructions" in printed


def test_cpu_features_come_from_cpuinfo():
    flags = open("/proc/cpuinfo").read()
    found = cpu_features()
    assert ("AVX2" in found) == (" avx2" in flags)
    assert ("AMX" in found) == (" amx_tile" in flags)
