"""Generation and training timings: the original loop / plain port against ours."""

from __future__ import annotations

import time

import numpy as np

from benchmarks import original
from midigen_tf import registry

V = 231  # the default corpus's vocabulary


SIZE: dict = {}  # config overrides for every model of the benchmark (``--tiny`` shrinks it)


def lstm_config(**overrides) -> dict:
    config = registry.make_config("lstm", {**SIZE, **overrides})
    config["n_vocab"] = V
    return config


def token_stream(n: int, seed: int = 0) -> np.ndarray:
    """A learnable synthetic corpus: a random walk over V token ids (mostly small steps)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-2, -1, 1, 1, 2, 3, 12], size=n)
    return (np.cumsum(steps) % V).astype(np.int32)


def varied_weights(model, seed: int = 1):
    """Random weights with batch norm calibrated on random windows: an untrained model's argmax
    repeats one token, which would make the token comparisons below say nothing."""
    import keras

    rng = np.random.default_rng(seed)
    for w in model.weights:
        scale = 5.0 if w.path.endswith("lstm_1/lstm_cell/kernel") else 1.0 / np.sqrt(w.shape[0])
        w.assign(rng.normal(0.0, scale, w.shape).astype("float32"))
    x = (rng.integers(0, V, (256, model.input_shape[1])).astype("float32") / V)[..., None]
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            h = keras.Model(model.inputs, layer.input).predict(x, verbose=0)
            layer.set_weights([np.ones(h.shape[1]), np.zeros(h.shape[1]), h.mean(0), h.var(0) + 1e-6])
    return model


def _clock(fn, repeats: int = 1, cpu: list | None = None):
    """(best wall time of ``repeats`` runs, the last output); ``cpu`` gets the best process
    CPU time (every thread's), which contention from other processes inflates less."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    if cpu is not None:
        cpu.append(best_cpu)
    return best, out


def read_bandwidth(nbytes: int, repeats: int = 20) -> float:
    """GB/s of one core reading an ``nbytes`` float32 matrix once, as a matrix-vector product
    (numpy's BLAS ``sgemv``), best of ``repeats``: the floor of a batch-1 step's time."""
    cols = 1264
    w = np.random.default_rng(0).random((max(nbytes // 4 // cols, 1), cols), dtype=np.float32)
    x = np.ones(w.shape[0], np.float32)
    best, _ = _clock(lambda: x @ w, repeats)
    return w.nbytes / best / 1e9


# issue 14's generation targets: ratio to the naive loop, per note, in the same run
TARGETS = {"stateful": 1000.0, "windowed": 200.0}


def generation(n: int, n_naive: int, k: int, echo, repeats: int = 3) -> dict:
    """ms per note (best of ``repeats``) for the naive loop, the windowed and stateful engines
    with each ``kernel`` (fused.KERNELS), and batches of K pieces; tokens compared."""
    from midigen_tf.fused import KERNELS, resolve
    from midigen_tf.generate import Engine, generate_tokens, scalar_encoding

    config = lstm_config()
    model = varied_weights(registry.build_model(config))
    seq = int(config["sequence_length"])
    ids = token_stream(20_000)
    start = ids[:seq][None]
    encode = scalar_encoding(V)
    rows, tokens = {}, {}
    n_windowed = max(n // 4, 10)  # a windowed note costs L stateful ones

    echo(f"  naive model.predict loop, {n_naive} notes ...")
    original.generate_notes(model, start[0], V, 1)  # the first predict builds its function
    cpu: list[float] = []
    dt, tokens["naive"] = _clock(lambda: original.generate_notes(model, start[0], V, n_naive),
                                 cpu=cpu)
    rows["naive loop (original predict.py)"] = dict(notes=n_naive, k=1, seconds=dt, trace=0.0,
                                                    cpu_seconds=cpu[-1])

    def run(label, engine, windows, count, pipelined=None, kernel="auto", times=repeats):
        runner = Engine(model, encode, engine, pipelined=pipelined, kernel=kernel)
        trace, _ = _clock(lambda: generate_tokens(model, windows, 2, encode, runner=runner))
        echo(f"  {label}: {count} notes x {len(windows)}, best of {times} ...")
        dt, out = _clock(lambda: generate_tokens(model, windows, count, encode, runner=runner),
                         times, cpu)
        rows[label] = dict(notes=count, k=len(windows), seconds=dt, trace=trace, engine=engine,
                           cpu_seconds=cpu[-1],
                           kernel=kernel, target=TARGETS.get(engine) if len(windows) == 1 else None)
        return out

    tokens["full"] = run("windowed, full pass per note", "windowed", start, n_naive, False,
                         times=1)[0]
    for engine, count in (("windowed", n_windowed), ("stateful", n)):
        for kernel in KERNELS[1:]:  # fused, xla, layers ("auto" picks one of them)
            default = " (default)" if resolve("auto", engine) == kernel else ""
            tokens[engine, kernel] = run(f"{engine}, kernel={kernel}{default}", engine, start,
                                         count, kernel=kernel)[0]
    batch = np.stack([ids[i * 997:i * 997 + seq] for i in range(k)])
    run(f"windowed, batch of {k}", "windowed", batch, max(n // 20, 10))
    run(f"stateful, batch of {k}", "stateful", batch, n)
    naive = rows["naive loop (original predict.py)"]
    naive_ms, naive_cpu_ms = 1000 * naive["seconds"] / n_naive, 1000 * naive["cpu_seconds"] / n_naive
    for row in rows.values():
        row["ms_per_note"] = 1000 * row["seconds"] / (row["notes"] * row["k"])
        row["cpu_ms_per_note"] = 1000 * row["cpu_seconds"] / (row["notes"] * row["k"])
        row["cpu_speedup"] = naive_cpu_ms / row["cpu_ms_per_note"]
        row["notes_per_s"] = 1000 / row["ms_per_note"]
        row["speedup"] = naive_ms / row["ms_per_note"]
        row["for_500"] = row["ms_per_note"] * 500 / 1000
    windowed = tokens["windowed", "fused"]
    same = bool(np.array_equal(tokens["naive"], windowed[:n_naive])
                and np.array_equal(tokens["naive"], tokens["full"]))
    kernels_same = {engine: all(np.array_equal(tokens[engine, kernel], tokens[engine, "layers"])
                                for kernel in KERNELS[1:]) for engine in ("windowed", "stateful")}
    stateful = tokens["stateful", "fused"][:len(windowed)]
    agree = int(np.argmax(stateful != windowed)) if not np.array_equal(stateful, windowed) \
        else len(windowed)
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights
                       if not w.path.startswith("bn_"))  # read once per batch-1 stateful note
    bandwidth = read_bandwidth(weight_bytes)
    return dict(rows=rows, windowed_equals_naive=same, n_compared=n_naive,
                stateful_agrees_first=agree, kernels_same_tokens=kernels_same, repeats=repeats,
                weight_bytes=weight_bytes, read_gb_s=bandwidth,
                floor_ms=weight_bytes / bandwidth / 1e6, naive_ms=naive_ms)


class StepTimer:
    """Wall time from the start of ``fit``'s second batch to the end of its last one: the first
    batch traces the train function, and ``fit``'s own teardown is left out (with numpy arrays,
    Keras 3's array adapter sometimes holds ``fit`` for seconds after the last batch)."""

    def __init__(self):
        import keras

        timer = self

        class C(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if batch == 1:
                    timer.begin = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                timer.end = time.perf_counter()
                timer.loss = float(logs["loss"]) if logs and "loss" in logs else None

        self.callback = C()
        self.begin = self.end = 0.0
        self.loss = None

    @property
    def seconds(self) -> float:
        return self.end - self.begin
