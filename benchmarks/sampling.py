"""Sampled generation against argmax (issue 25): what users run, per note and end to end.

Per note: the families users train (the classic ``lstm`` preset, the MidiTok ``lstm-remi``
preset with its Embedding input, the ``pianoroll`` preset), and the tiny MidiTok model
``lstm-tokens-tiny`` beside them (a note costs it microseconds: it shows the sampler's own cost,
outside the targets) x both engines x the kernels ``fused``, ``xla`` and ``layers``; argmax and three seeded samplers, timed through
``generate.generate_steps`` (the loop ``generate_tokens`` and the pipelines run) with the start
window read beforehand, so a row is the per-note loop alone. The piano roll has no argmax:
its baseline is ``FrameChooser``'s threshold mode and its samplers are its per-pitch Bernoulli
mode, alone and with the ``--top-k 8`` polyphony cap (it refuses ``--top-p``). Modes run
interleaved, best of ``repeats`` each.

End to end: ``python predict.py WEIGHTS -n N`` against the same with ``--temperature 1.0
--top-p 0.95 --seed 1``, whole processes (start-up and MIDI writing included), on a classic
model of the ``lstm`` preset's shape saved with the trainer's writers (random weights).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import speed
from midigen_tf import registry

ROOT = Path(__file__).resolve().parents[1]
SEED = 1
# mode -> (temperature, top_k, top_p); the first is each family's baseline
MODES = {"argmax": (None, None, None), "T 1.0": (1.0, None, None), "top-k 8": (None, 8, None),
         "T 1.0 + top-p 0.95": (1.0, None, 0.95)}
# the piano roll: "argmax" is FrameChooser's threshold mode, the samplers its Bernoulli mode
ROLL_MODES = ("argmax", "T 1.0", "top-k 8")  # it refuses --top-p
KERNELS = ("fused", "xla", "layers")  # auto picks fused or a family's declared kernel; --tiny: no xla
# notes per timed run (windowed, stateful): about 7 minutes for the section on 2 busy cores
NOTES = {"classic": (100, 1000), "tokens": (100, 1000), "tokens-tiny": (500, 1000),
         "pianoroll": (100, 500)}
# families outside the targets: what they show is the sampler's fixed cost per step
SHOWN_ONLY = ("tokens-tiny",)
FEW_NOTES = 20  # --tiny, --quick


class Started:
    """``runner`` with its start window read once: ``generate_steps`` then times the loop alone."""

    def __init__(self, runner, windows):
        self.runner, self.state = runner, runner.start(windows)

    def start(self, windows):
        return self.state

    def __getattr__(self, name):
        return getattr(self.runner, name)


def families(tiny: bool) -> dict:
    """name -> (label, model, encode, dtype, start window (1, L, ...), make_pick(mode), the
    ``Pipeline.auto_kernel`` of its family)."""
    from midigen_tf.data import tokens as tl
    from midigen_tf.generate import float_encoding, scalar_encoding
    from midigen_tf.pipelines import pianoroll as pr
    from midigen_tf.pipelines.base import GenerateOptions
    from midigen_tf.pipelines.tokens import id_encoding
    from midigen_tf.sampling import sampler

    rng = np.random.default_rng(0)

    def softmax_pick(mode):
        return sampler(np.random.default_rng(SEED), *MODES[mode])

    classic = speed.lstm_config()
    tokens = registry.make_config("lstm-tokens-tiny" if tiny else "lstm-remi",
                                  dict(units=[8, 8], sequence_length=12) if tiny else {})
    tokens["n_vocab"] = len(tl.make_tokenizer(tokens))  # MidiTok REMI with the preset's options
    roll = registry.make_config("pianoroll-tiny" if tiny else "pianoroll",
                                dict(units=[8], sequence_length=12) if tiny else {})
    frames = (rng.random((1, roll["sequence_length"], pr.N_FEATURES)) < 0.05).astype(np.float32)

    def roll_pick(mode):
        temperature, top_k, _ = MODES[mode]
        extra = {} if mode == "argmax" else {"mode": "sample"}
        options = GenerateOptions(n=1, seed=SEED, temperature=temperature, top_k=top_k,
                                  extra=extra)
        pick = pr.FrameChooser(pr.generation_options(options), options, 1,
                               np.random.default_rng(SEED))
        pick.previous = frames[:, -1, :pr.N_PITCHES] > 0
        return pick

    def shape(c):
        return "/".join(map(str, c["units"])) + f", window {c['sequence_length']}"

    def auto(config):
        return registry.pipeline(config["family"]).auto_kernel

    def token_family(c):
        return (f"MidiTok REMI {c['preset']} ({shape(c)}, Embedding {c['embedding_dim']}, "
                f"vocabulary {c['n_vocab']})", registry.build_model(c), id_encoding, "int64",
                rng.integers(0, c["n_vocab"], (1, c["sequence_length"])), softmax_pick, auto(c))

    seq = classic["sequence_length"]
    found = {
        "classic": (f"classic lstm ({shape(classic)}, vocabulary {speed.V})",
                    speed.varied_weights(registry.build_model(classic)), scalar_encoding(speed.V),
                    "int64", speed.token_stream(5_000)[:seq][None], softmax_pick, auto(classic)),
        "tokens": token_family(tokens),
        "pianoroll": (f"piano roll {roll['preset']} ({shape(roll)}, {pr.N_FEATURES} features; "
                      "FrameChooser)", registry.build_model(roll), float_encoding, "float32",
                      frames, roll_pick, auto(roll)),
    }
    if not tiny:  # --tiny: "tokens" is this model already
        small = registry.make_config("lstm-tokens-tiny")
        small["n_vocab"] = len(tl.make_tokenizer(small))
        found["tokens-tiny"] = token_family(small)
    return found


def per_note(tiny: bool, repeats: int, echo, notes: int | None = None) -> dict:
    """ms per note of every family x engine x kernel x mode (modes interleaved, best of
    ``repeats``; ``notes`` per run, else ``NOTES``) and each sampler / its family's baseline."""
    from midigen_tf.fused import resolve
    from midigen_tf.generate import Engine, generate_steps

    rows, labels = {}, {}
    autos = {}
    for family, (label, model, encode, dtype, window, make_pick, auto) in families(tiny).items():
        labels[family] = label
        modes = list(ROLL_MODES if family == "pianoroll" else MODES)
        for e, engine in enumerate(("windowed", "stateful")):
            n = notes or NOTES[family][e]
            autos[f"{family}, {engine}"] = resolve("auto", engine, auto)
            for kernel in (k for k in KERNELS if not tiny or k != "xla"):
                echo(f"  {family}, {engine}, kernel={kernel}: {n} notes x {len(modes)} modes, "
                     f"best of {repeats} ...")
                t0 = time.perf_counter()
                runner = Started(Engine(model, encode, engine, dtype=dtype, kernel=kernel), window)
                for mode in modes:  # traces / compiles every function the loop calls
                    generate_steps(runner, window, 2, make_pick(mode))
                trace, best = time.perf_counter() - t0, dict.fromkeys(modes, float("inf"))
                for _ in range(repeats):
                    for mode in modes:
                        dt, _ = speed._clock(lambda: generate_steps(runner, window, n,
                                                                    make_pick(mode)))
                        best[mode] = min(best[mode], dt)
                ms = {m: 1000 * t / n for m, t in best.items()}
                rows[f"{family}, {engine}, kernel={kernel}"] = dict(
                    family=family, engine=engine, kernel=kernel, notes=n, trace=trace, ms=ms,
                    ratio={m: ms[m] / ms["argmax"] for m in modes[1:]})
    default = {}  # the kernel auto picks against layers, per family, engine and mode
    for key, kernel in autos.items():
        ms, layers = rows[f"{key}, kernel={kernel}"]["ms"], rows[f"{key}, kernel=layers"]["ms"]
        default[f"{key} (auto = {kernel})"] = {m: ms[m] / layers[m] for m in ms}
    worst = max(((f"{key}, {m}", x) for key, r in rows.items() for m, x in r["ratio"].items()
                 if r["family"] not in SHOWN_ONLY), key=lambda c: c[1])
    return dict(rows=rows, families=labels, default_vs_layers=default, repeats=repeats,
                worst_ratio=worst[1], worst_row=worst[0], shown_only=SHOWN_ONLY)


def save_classic(folder: Path) -> Path:
    """A classic model of the benchmark's ``lstm`` shape, saved as the trainer saves one."""
    from midigen_tf.bundle import Bundle, save_bundle
    from midigen_tf.checkpoints import save_hdf5
    from midigen_tf.data.notes import TOKENS_ARRAY

    config = speed.lstm_config()
    names = [f"{p}{o}" for o in range(1, 8) for p in ("C", "C#", "D", "E-", "E", "F", "F#", "G",
                                                      "G#", "A", "B-", "B")]
    chords = [f"{a}.{b}.{c}" for a in range(12) for b in range(a + 1, 12) for c in range(b + 1, 12)]
    vocab = sorted((names + chords)[:speed.V])
    weights = folder / "weights.hdf5"
    save_hdf5(speed.varied_weights(registry.build_model(config)), weights)
    save_bundle(weights, Bundle(config=config, vocab=vocab))
    np.save(folder / f"{TOKENS_ARRAY}.npy", speed.token_stream(5_000))
    return weights


def end_to_end(n: int, repeats: int, echo) -> dict:
    """Seconds of whole ``predict.py`` processes, argmax against sampled, interleaved, best of
    ``repeats``."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    runs = {"argmax": [], "sampled": ["--temperature", "1.0", "--top-p", "0.95", "--seed", "1"]}
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_classic(Path(tmp))
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(repeats):
            for name, extra in runs.items():
                echo(f"  python predict.py WEIGHTS -n {n} {' '.join(extra)} ...")
                command = [sys.executable, str(ROOT / "predict.py"), str(weights), "-n", str(n),
                           "-o", str(Path(tmp) / f"{name}.mid"), *extra]
                t0 = time.perf_counter()
                done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
                best[name] = min(best[name], time.perf_counter() - t0)
    return dict(notes=n, repeats=repeats, seconds=best, ratio=best["sampled"] / best["argmax"])


def run(tiny: bool, quick: bool, repeats: int, echo) -> dict:
    """``tiny``: tiny models; ``tiny`` or ``quick``: a few notes per row."""
    import tensorflow as tf

    c = speed.lstm_config()
    echo("\n[sampling] argmax against seeded samplers, every family x engine x kernel")
    level = tf.get_logger().level  # new engines trace functions of the same code: TF warns
    tf.get_logger().setLevel("ERROR")
    try:
        out = per_note(tiny, repeats, echo, FEW_NOTES if tiny or quick else None)
    finally:
        tf.get_logger().setLevel(level)
    n = 30 if tiny or quick else 500
    echo(f"  end to end: predict.py on a classic model ({'/'.join(map(str, c['units']))}, "
         f"window {c['sequence_length']}), -n {n}")
    out["end_to_end"] = end_to_end(n, repeats, echo)
    return out


def report(result: dict, echo, table) -> None:
    rows, modes = result["rows"], list(MODES)
    for family, label in result["families"].items():
        echo(f"{family}: {label}")
    cell = lambda r, m: "-" if m not in r["ms"] else (  # noqa: E731
        f"{r['ms'][m]:.3f}" + (f" ({r['ratio'][m]:.2f}x)" if m in r["ratio"] else ""))
    table(f"Sampled generation, ms per note (loop only, start window read beforehand; best of "
          f"{result['repeats']}, modes interleaved; (x) = sampled / argmax; piano roll: argmax = "
          "threshold 0.5, samplers = per-pitch Bernoulli, no top-p)",
          ["family, engine, kernel", "notes", *modes, "trace (s)"],
          [[key, str(r["notes"]), *(cell(r, m) for m in modes), r["trace"]]
           for key, r in rows.items()], echo)
    echo(f"worst sampled / argmax: {result['worst_ratio']:.2f}x ({result['worst_row']}; "
         f"families outside the targets: {', '.join(result.get('shown_only', ())) or 'none'})")
    table("Default kernel (auto) against layers: ms per note auto / layers (<= 1: auto at least "
          "as fast)", ["family, engine", *modes],
          [[key, *(f"{x[m]:.2f} {'yes' if x[m] <= 1 else 'NO'}" if m in x else "-"
                   for m in modes)] for key, x in result["default_vs_layers"].items()], echo)
    e = result["end_to_end"]
    table(f"predict.py end to end, -n {e['notes']} (whole process: start-up, generation, MIDI "
          f"writing; best of {e['repeats']})", ["run", "seconds", "x argmax"],
          [["argmax", e["seconds"]["argmax"], 1.0],
           ["--temperature 1.0 --top-p 0.95 --seed 1", e["seconds"]["sampled"], e["ratio"]]],
          echo)


def target_rows(result: dict | None) -> list[tuple[str, float, float | None]]:
    """(target, most, measured) for ``run.targets``: each is met when measured <= most."""
    r = result or {}
    auto = [x for key, d in r.get("default_vs_layers", {}).items() for x in d.values()
            if key.split(",")[0] not in r.get("shown_only", ())]
    return [("sampled within 1.3x of argmax per note (worst row)", 1.3, r.get("worst_ratio")),
            ("predict.py sampled within 1.3x of argmax end to end", 1.3,
             r["end_to_end"]["ratio"] if r else None),
            ("default kernel at least as fast as layers (worst auto / layers)", 1.0,
             max(auto) if auto else None)]
