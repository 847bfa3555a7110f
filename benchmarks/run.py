"""``python -m benchmarks``: generation, training, parsing, memory and FLOPs in one run.

Every ratio compares two measurements of the same run on the same machine. ``--quick``
shrinks every section (a smoke test); ``--json FILE`` also writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def lstm_flops(units, n_in: int, dense: int, vocab: int) -> tuple[float, float]:
    """(FLOPs of one LSTM time step of the stack, FLOPs of the dense head) for one sample."""
    step, prev = 0.0, n_in
    for u in units:
        step += 2 * 4 * u * (prev + u)
        prev = u
    return step, 2 * (prev * dense + dense * vocab)


def matmul_gflops(n: int = 1024, shape=(128, 632, 1264), repeat: int = 20) -> dict:
    """Measured float32 matrix-multiply throughput: a square n x n and an LSTM-step shape."""
    import tensorflow as tf

    out = {}
    for label, (m, k, p) in (("square", (n, n, n)), ("lstm_step", shape)):
        a, b = tf.random.normal((m, k)), tf.random.normal((k, p))
        f = tf.function(lambda a, b: tf.matmul(a, b))
        f(a, b).numpy()
        t0 = time.perf_counter()
        for _ in range(repeat):
            f(a, b).numpy()
        out[label] = 2 * m * k * p * repeat / (time.perf_counter() - t0) / 1e9
    return out


# our training paths after the port; T = SPLIT_THREADS: two ops side by side, each on half the
# cores (on 2 cores: 1,2), which suits FastLSTM's two row streams
SPLIT_THREADS = f"{max(1, (os.cpu_count() or 2) // 2)},2"
DEFAULT_PATHS = ["default", "lstm_impl=fast", "precision=mixed_bfloat16", "lstm_impl=fast@T",
                 "port@T"]
CPU_FLAGS = (("avx2", "AVX2"), ("fma", "FMA"), ("avx512f", "AVX-512"),
             ("avx512_bf16", "AVX512_BF16"), ("amx_bf16", "AMX-BF16"), ("amx_tile", "AMX"))


def cpu_features() -> list[str]:
    """The vector / matrix instruction sets of this CPU that matter here, from /proc/cpuinfo."""
    try:
        flags = next((set(line.split(":", 1)[1].split()) for line in open("/proc/cpuinfo")
                      if line.startswith("flags")), set())
    except OSError:
        flags = set()
    return [name for flag, name in CPU_FLAGS if flag in flags]


def has_bf16(features: list[str]) -> bool:
    return "AVX512_BF16" in features or "AMX-BF16" in features


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    import keras
    import tensorflow as tf

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} cores, load average {load:.1f}; Python "
            f"{platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}")


def table(title: str, header: list[str], rows: list[list], echo) -> None:
    cells = [header] + [[c if isinstance(c, str) else f"{c:,.{2 if abs(c) < 100 else 0}f}"
                         for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    echo(f"\n{title}")
    echo("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    echo("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        echo("| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(r, widths))) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny counts (smoke test)")
    ap.add_argument("--tiny", action="store_true",
                    help="smallest run (tiny models and corpora; seconds): tests that it runs")
    ap.add_argument("--sections",
                    default="generation,sampling,training,batchers,parsing,memory,tokenizers",
                    help="comma-separated subset of generation,sampling,training,batchers,parsing,"
                         "memory,tokenizers")
    ap.add_argument("--notes", type=int, default=1000,
                    help="notes per stateful engine (windowed: a quarter of them)")
    ap.add_argument("--naive-notes", type=int, default=10, help="notes for the naive loop (scaled)")
    ap.add_argument("--batch", type=int, default=16, help="pieces generated together")
    ap.add_argument("--steps", type=int, default=6, help="training steps per variant")
    ap.add_argument("--rounds", type=int, default=2,
                    help="interleaved training rounds per path (best rate kept)")
    ap.add_argument("--variants", default=None,
                    help="training paths after the port, ';'-separated: port, default or "
                         "key=value[,key=value], each optionally @INTRA,INTER (CPU threads; "
                         f"default: {';'.join(DEFAULT_PATHS)}, with T = {SPLIT_THREADS})")
    ap.add_argument("--data", default=None, help="MIDI folder for the parsing section")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    from midigen_tf.console import quiet_tensorflow_import

    quiet_tensorflow_import()  # no TensorFlow start-up chatter in the report
    if args.quick or args.tiny:
        args.notes, args.naive_notes, args.batch, args.steps = 40, 3, 4, 2
    repeats = 1 if args.quick or args.tiny else 3
    if args.tiny:
        args.notes, args.naive_notes, args.batch = 10, 2, 2
        from benchmarks import speed as _speed

        _speed.SIZE.update(units=[8, 8, 8], sequence_length=12, batch_size=16)
    sections = set(args.sections.split(","))
    echo = lambda *a: print(*a, flush=True)  # noqa: E731
    t_start = time.perf_counter()
    results = {"machine": machine()}
    features = results["cpu_features"] = cpu_features()
    echo(f"machine: {results['machine']}")
    echo(f"CPU features: {', '.join(features) or 'none of ' + ', '.join(n for _, n in CPU_FLAGS)}")
    matmul_before = matmul_gflops(256 if args.tiny else 1024, repeat=3 if args.tiny else 20)

    from benchmarks import data, speed

    gen = train = None
    if "generation" in sections:
        c = speed.lstm_config()
        echo(f"\n[generation] lstm preset ({'/'.join(map(str, c['units']))}, window "
             f"{c['sequence_length']}, vocabulary {c['n_vocab']}), argmax")
        gen = results["generation"] = speed.generation(
            args.notes, args.naive_notes, args.batch, echo, repeats)
        table(f"Generation (lstm preset; best of {repeats}; time includes reading the start "
              "window; per note of a batch = batch time / (K x notes))",
              ["engine", "notes x K", "ms/note", "notes/s", "x naive", "target", "CPU ms/note",
               "x naive (CPU)", "500 notes (s)", "trace (s)"],
              [[name, f"{r['notes']} x {r['k']}", r["ms_per_note"], r["notes_per_s"], r["speedup"],
                f">= {r['target']:,.0f}x {'met' if r['speedup'] >= r['target'] else 'MISSED'}"
                if r.get("target") else "-", r["cpu_ms_per_note"], r["cpu_speedup"], r["for_500"],
                r["trace"]]
               for name, r in gen["rows"].items()], echo)
        echo(f"naive loop and full pass timed on {args.naive_notes} notes and scaled; windowed "
             f"tokens == naive tokens on those notes: {gen['windowed_equals_naive']}; every kernel "
             f"gives the tokens of kernel=layers: {gen['kernels_same_tokens']}; stateful == "
             f"windowed for the first {gen['stateful_agrees_first']} notes; load average now "
             f"{os.getloadavg()[0]:.1f}")
        echo(f"a batch-1 stateful note reads {gen['weight_bytes'] / 1e6:.1f} MB of weights; one "
             f"core reads {gen['read_gb_s']:.1f} GB/s here (numpy sgemv over as many bytes), so "
             f"a note costs at least {gen['floor_ms']:.3f} ms = "
             f"{gen['naive_ms'] / gen['floor_ms']:,.0f}x the naive loop at most")
    if "sampling" in sections:  # argmax against seeded samplers, per note and end to end
        from benchmarks import sampling

        results["sampling"] = sampling.run(args.tiny, args.quick, repeats, echo)
        sampling.report(results["sampling"], echo, table)
    if "training" in sections:
        from benchmarks import training

        variants = [v.replace("@T", "@" + SPLIT_THREADS) for v in
                    (args.variants.split(";") if args.variants else DEFAULT_PATHS) if v]
        skipped = [v for v in variants if "bfloat16" in v and not has_bf16(features)]
        variants = [v for v in variants if v not in skipped]
        echo(f"\n[training] lstm preset, batch {speed.lstm_config()['batch_size']}, {args.steps} "
             "steps per path (first excluded), each path in its own process")
        train = results["training"] = training.training(
            args.steps, ["port"] + variants, echo, 1 if args.quick or args.tiny else args.rounds)
        flops = train_flops()
        for r in train["rows"].values():
            r["gflops"] = flops * r["samples_per_s"] / 1e9
            r["of_matmul"] = r["gflops"] / matmul_before["square"]
        table(f"Training (same initial weights, same {args.steps} batches; best of {train['rounds']} "
              "interleaved rounds; losses of the first; eval loss on 512 held-out windows; "
              "GFLOP/s counted as 3 x forward FLOPs, of the float32 matmul rate; threads "
              "INTRA,INTER as --cpu-threads, none = TensorFlow's)",
              ["path", "samples/s", "x port", "x port, same threads", "train loss", "eval loss",
               "GFLOP/s", "of matmul"],
              [[name, r["samples_per_s"], r["ratio"], r["ratio_same_threads"] or "-",
                r["train_loss"], r["eval_loss"], r["gflops"], f"{100 * r['of_matmul']:.0f}%"]
               for name, r in train["rows"].items()]
              + [[f"ours ({v})", "not measured: no bf16 instructions", "-", "-", "-", "-", "-", "-"]
                 for v in skipped], echo)
    if "batchers" in sections:  # every family: old PyDataset against the one tf.data batcher
        from benchmarks import batchers

        steps, repeats = ((batchers.QUICK["steps"], batchers.QUICK["repeats"]) if args.quick
                          else (10, 3))
        echo(f"\n[batchers] every family's CPU preset, {steps} fit steps per path, best of {repeats}")
        results["batchers"] = batchers.run(steps, repeats, echo=echo)
        table(f"One batcher (fit, {steps} steps per path, best of {repeats}; samples/s of the steps "
              "after the first of each fit)", batchers.HEADER,
              batchers.rows_for_table(results["batchers"]), echo)
    if "parsing" in sections:
        files, notes = (2, 40) if args.tiny else (6, 200) if args.quick else (24, 600)
        echo("\n[parsing] music21, classic tokens")
        parse = results["parsing"] = data.parsing(args.data, files, notes, echo,
                                                  rounds=1 if args.quick or args.tiny else 2)
        table(f"Parsing {parse['files']} MIDI files (cold: best of {parse['rounds']} alternating "
              "rounds; CPU s: the machine's busy CPU time during the run, from /proc/stat; "
              "cores = CPU s / seconds)", ["run", "seconds", "files/s", "x cold serial", "CPU s", "cores"],
              [[name, r["seconds"], r["files_per_s"], r["speedup"], r.get("cpu", "-"), r.get("cores", "-")]
               for name, r in parse["rows"].items()], echo)
        echo(f"music21 imported by the warm run: {parse['music21_imported_on_warm']}")
    if "memory" in sections:
        n = 20_000 if args.tiny else 200_000 if args.quick else 2_000_000
        echo(f"\n[memory] preparing windows of 100 for {n:,} synthetic tokens")
        mem = results["memory"] = data.memory(n, min(n, 100_000), echo)
        o, u = mem["original"], mem["ours"]
        table("Peak RSS (MB; baseline = after importing Keras, before the data)",
              ["approach", "tokens measured", "baseline", "peak", f"peak at {n:,}"],
              [["original prepare_sequences", f"{o['tokens']:,}", o["baseline_mb"], o["peak_mb"],
                o["estimated_peak_mb"]],
               ["ours (lazy windows)", f"{u['tokens']:,}", u["baseline_mb"], u["peak_mb"], u["peak_mb"]]],
              echo)
        if mem["scaled"]:
            echo(f"the original approach was measured on {o['tokens']:,} tokens and scaled linearly")
    if "tokenizers" in sections:  # symusic (MidiTok pipelines) vs music21, default corpus
        from benchmarks import tokenizers

        echo("\n[tokenizers] cold parsing of the default corpus: symusic vs music21")
        results["tokenizers"] = tokenizers.parsing(args.data, 10 if args.quick else None, echo)
        tokenizers.report(results["tokenizers"], echo, table)
    context(gen, train, results, echo, matmul_before, 256 if args.tiny else 1024)
    targets(results, echo)
    results["seconds"] = time.perf_counter() - t_start
    echo(f"\nbenchmark finished in {results['seconds'] / 60:.1f} min")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


def train_flops() -> float:
    """FLOPs of one training sample (forward + backward, counted as 3 x forward)."""
    from benchmarks.speed import lstm_config

    config = lstm_config()
    step, head = lstm_flops(config["units"], 1, config["dense_units"], config["n_vocab"])
    return 3 * (step * config["sequence_length"] + head)


def targets(results: dict, echo) -> None:
    """Every target of issues 14 and 25 beside the ratio this run measured."""
    rows, gen, train = [], results.get("generation"), results.get("training")
    parse = results.get("parsing")

    def row(target, need, value, unit="x", at_most=False):
        shown = "not run" if value is None else f"{value:,.2f}{unit}" if unit == "x" else value
        ok = need if unit != "x" or value is None else value <= need if at_most else value >= need
        met = "-" if value is None else ("met" if ok else "missed")
        rows.append([target, shown, met])

    g = gen["rows"] if gen else {}

    def default(engine):  # the one-piece row of the engine's default kernel
        return next((r for name, r in g.items()
                     if name.startswith(f"{engine}, kernel=") and "(default)" in name), {})

    row("generation, stateful, one piece >= 1,000x naive", 1000, default("stateful").get("speedup"))
    row("generation, windowed, one piece >= 200x naive", 200, default("windowed").get("speedup"))
    if gen:
        row("windowed tokens == naive tokens", gen["windowed_equals_naive"],
            str(gen["windowed_equals_naive"]), unit="")
        same_kernels = all(gen["kernels_same_tokens"].values())
        row("every --kernel gives the tokens of kernel=layers", same_kernels, str(same_kernels),
            unit="")
    # same maths: our float32 paths (bf16 changes numerics)
    ours = [r for name, r in (train["rows"] if train else {}).items()
            if name.startswith("ours") and "bfloat16" not in name]
    row("training, same maths, >= 1.5x the plain port", 1.5,
        max((r["ratio"] for r in ours), default=None))
    if train:  # what the thread settings give the port too: the layer's own share
        alike = max((r["ratio_same_threads"] for r in ours if r["ratio_same_threads"]),
                    default=None)
        rows.append(["(for reference: ours / the port given the same threads)",
                     "not run" if alike is None else f"{alike:,.2f}x", "-"])
    p = parse["rows"] if parse else {}
    cold = next((r for name, r in p.items() if name.startswith("cold") and "1 process" not in name), {})
    row("parsing, cold, 2 processes >= 1.6x serial", 1.6, cold.get("speedup"))
    row("parsing, warm cache >= 50x cold (as fast as before)", 50,
        p.get("warm cache (fresh process)", {}).get("speedup"))
    from benchmarks.sampling import target_rows

    for target, most, value in target_rows(results.get("sampling")):  # issue 25
        row(target, most, value, at_most=True)
    results["targets"] = rows
    table("Targets of issues 14 and 25 (ratios of this run)", ["target", "measured", ""], rows, echo)


def context(gen, train, results, echo, matmul_before: dict, n: int = 1024) -> None:
    from benchmarks.speed import lstm_config

    config = lstm_config()
    step, head = lstm_flops(config["units"], 1, config["dense_units"], config["n_vocab"])
    window = step * config["sequence_length"] + head
    per_sample = 3 * window  # forward + backward (about twice the forward)
    after = matmul_gflops(n, repeat=3 if n < 1024 else 20)  # before and after the run: the best
    mm = {k: max(v, after[k]) for k, v in matmul_before.items()}
    results["context"] = dict(flops_window=window, flops_step=step + head,
                              flops_train_sample=per_sample, matmul_gflops=mm)
    rows = [["training sample (fwd + bwd)", per_sample / 1e6, None],
            ["note, fresh 100-step window", window / 1e6, None],
            ["note, state carried forward", (step + head) / 1e6, None]]
    if train:
        best = max(train["rows"].items(), key=lambda kv: kv[1]["samples_per_s"])
        rows[0][2] = per_sample * best[1]["samples_per_s"] / 1e9
    if gen:
        g = gen["rows"]
        for i, (engine, flops) in enumerate((("windowed", window), ("stateful", step + head)), 1):
            best = min(r["ms_per_note"] for name, r in g.items() if name.startswith(engine))
            rows[i][2] = flops / best / 1e6
    echo(f"\nmatrix multiply, float32: {mm['square']:.1f} GFLOP/s ({n}^3), "
         f"{mm['lstm_step']:.1f} GFLOP/s (128x632 @ 632x1264, one LSTM step)")
    if gen:  # the windowed engine is compute-bound: its ceiling on this machine
        floor_ms = window / (mm["square"] * 1e9) * 1e3
        results["context"]["windowed_floor_ms"] = floor_ms
        echo(f"a windowed note is {window / 1e6:.0f} MFLOP ({config['sequence_length']} fresh "
             f"steps of the stack, no work shared between windows); at the best float32 "
             f"matrix-multiply rate measured here it costs at least {floor_ms:.2f} ms = {gen['naive_ms'] / floor_ms:,.0f}x the naive "
             f"loop at most ({200 * floor_ms / gen['naive_ms']:.1f}x this machine's rate would be "
             f"needed for 200x)")
    if train:  # how far the same maths could go past the port at this machine's rates
        port = train["rows"]["plain Keras 3 port (arrays, one-hot)"]["samples_per_s"]
        port_gf, need = per_sample * port / 1e9, 1.5 * per_sample * port / 1e9
        results["context"]["training_needs_gflops"] = need
        echo(f"training: the plain port already computes {port_gf:.0f} GFLOP/s "
             f"({port_gf / mm['square']:.0%} of the square matrix-multiply rate, "
             f"{port_gf / mm['lstm_step']:.0%} of the rate of one LSTM step's product); 1.5x the "
             f"port needs {need:.0f} GFLOP/s ({need / mm['square']:.0%} and "
             f"{need / mm['lstm_step']:.0%} of those rates)")
    table("Work and the fraction of the machine we reach (best path of each row)",
          ["unit", "MFLOP", "GFLOP/s reached", "of matmul peak"],
          [[r[0], r[1], r[2] if r[2] is not None else "-",
            f"{100 * r[2] / mm['square']:.0f}%" if r[2] is not None else "-"] for r in rows], echo)


if __name__ == "__main__":
    sys.exit(main())
