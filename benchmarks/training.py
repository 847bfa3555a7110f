"""Training timings: the plain Keras 3 port against ours, every path in a process of its own.

TensorFlow's thread pools are process-wide and fixed when it runs its first op, so a path
with other thread settings (``--cpu-threads``) needs a process of its own; every path gets
one, alike. The workers start together, then the parent hands out the same start weights and
runs the paths one at a time in interleaved rounds (an idle worker waits on its pipe), so a
change of load hits every path alike.

A path is written ``port``, ``default`` or ``key=value[,key=value]`` (our config overrides),
optionally followed by ``@INTRA,INTER`` (its CPU threads; none: TensorFlow's defaults).
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from dataclasses import dataclass

import numpy as np

PORT = "plain Keras 3 port (arrays, one-hot)"


@dataclass(frozen=True)
class Path:
    spec: str

    @property
    def variant(self) -> str:
        return self.spec.partition("@")[0]

    @property
    def threads(self) -> str | None:
        return self.spec.partition("@")[2] or None

    @property
    def is_port(self) -> bool:
        return self.variant == "port"

    @property
    def overrides(self) -> dict:
        if self.is_port or self.variant == "default":
            return {}
        from midigen_tf.config import parse_assignments

        return parse_assignments(self.variant.split(","), what="benchmark path")

    @property
    def label(self) -> str:
        threads = f"; threads {self.threads}" if self.threads else ""
        return PORT[:-1] + threads + ")" if self.is_port else f"ours ({self.variant}{threads})"


def _arrays(steps: int) -> dict:
    """The benchmark's batches, built alike in every worker: the port's one-hot arrays (its
    vocabulary from the data, as the original: every id occurs) and our token ids."""
    from benchmarks import original
    from benchmarks.speed import V, lstm_config, token_stream

    config = lstm_config()
    batch, seq = int(config["batch_size"]), int(config["sequence_length"])
    walk = token_stream(batch * (steps + 8) + seq + 1, seed=1)
    ids = np.concatenate([walk, np.arange(V, dtype=np.int32)])  # every id occurs as a target
    notes = [f"t{i:03d}" for i in ids]
    x, y = original.prepare_sequences(notes, V, seq)
    index = {t: i for i, t in enumerate(sorted(set(notes)))}
    return dict(x=x, y=y, batch=batch, seq=seq, units=tuple(config["units"]),
                ids=np.array([index[t] for t in notes], dtype=np.int32),
                x_eval=x[batch * (steps + 2):][:512], y_eval=y[batch * (steps + 2):][:512])


def _fit(model, path: Path, a: dict, steps: int, first: bool) -> dict:
    """One ``fit`` of ``steps`` batches timed by ``StepTimer``; the first also evaluates."""
    from benchmarks.speed import V, StepTimer
    from midigen_tf.data.sequences import window_batches
    from midigen_tf.generate import scalar_encoding

    batch = a["batch"]
    if path.is_port:
        data = dict(x=a["x"][:batch * steps], y=a["y"][:batch * steps], batch_size=batch)
    else:  # what the classic pipeline trains on
        data = dict(x=window_batches(a["ids"], a["seq"], batch, np.arange(batch * steps),
                                     scalar_encoding(V), shuffle=False))
    timer = StepTimer()
    t0 = time.perf_counter()
    model.fit(epochs=1, verbose=0, shuffle=False, callbacks=[timer.callback], **data)
    out = dict(rate=batch * (steps - 1) / max(timer.seconds, 1e-9), train_loss=timer.loss,
               fit_s=time.perf_counter() - t0, steps_s=timer.seconds)
    if first:
        y_eval = a["y_eval"].argmax(-1) if "sparse" in model.loss else a["y_eval"]
        out["eval_loss"] = float(model.evaluate(a["x_eval"], y_eval, verbose=0, batch_size=batch))
    return out


def _worker(conn, path: Path, size: dict, steps: int) -> None:
    """One path's process: threads first, then its model; fits on request until ``None``."""
    try:
        from midigen_tf.console import quiet_tensorflow_import

        quiet_tensorflow_import()
        from midigen_tf.distribute import set_cpu_threads

        set_cpu_threads(path.threads)  # before TensorFlow runs anything
        from benchmarks import original, speed
        from midigen_tf import registry

        speed.SIZE.update(size)
        a = _arrays(steps)
        model = (original.create_network(a["x"], speed.V, a["units"]) if path.is_port
                 else registry.build_model(speed.lstm_config(**path.overrides)))
        conn.send(("ready", model.get_weights()))
        first = True
        while (weights := conn.recv()) is not None:
            model.set_weights(weights)
            conn.send(("done", _fit(model, path, a, steps, first)))
            first = False
    except Exception:  # the parent raises it with the worker's traceback
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _receive(conn, path: Path):
    try:
        kind, value = conn.recv()
    except EOFError:
        raise RuntimeError(f"the training worker of {path.label} died") from None
    if kind == "error":
        raise RuntimeError(f"the training worker of {path.label} failed:\n{value}")
    return value


def training(steps: int, specs: list[str], echo, rounds: int = 1) -> dict:
    """samples/s of each path (the first must be ``port``: the baseline, whose initial weights
    every path starts from), best of ``rounds`` interleaved rounds; losses of the first."""
    from benchmarks.speed import SIZE, lstm_config

    paths = [Path(s) for s in specs]
    if not paths or paths[0].spec != "port":
        raise ValueError("the first training path must be 'port' (TensorFlow's threads)")
    ctx = multiprocessing.get_context("spawn")  # a fresh TensorFlow per worker
    workers = []
    echo(f"  starting {len(paths)} worker processes (one per path) ...")
    try:
        for path in paths:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(theirs, path, dict(SIZE), steps), daemon=True)
            proc.start()
            theirs.close()  # so that a dead worker reads as EOF, not a hang
            workers.append((path, mine, proc))
        start = [_receive(conn, path) for path, conn, _ in workers][0]
        rows: dict[str, dict] = {}
        batch = int(lstm_config()["batch_size"])
        for _ in range(rounds):
            for path, conn, _ in workers:
                echo(f"  {path.label}: {steps} steps of {batch} ...")
                conn.send(start)
                r = _receive(conn, path)
                if path.label not in rows:  # the first round's figures, then rates only
                    rows[path.label] = dict(r, rates=[], threads=path.threads or "tf")
                row = rows[path.label]
                row["rates"].append(r["rate"])
                row["samples_per_s"] = max(row["rates"])
    finally:
        for _, conn, proc in workers:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    base = rows[PORT]["samples_per_s"]
    ports = {r["threads"]: r["samples_per_s"] for name, r in rows.items() if name.startswith("plain")}
    for row in rows.values():
        row["ratio"] = row["samples_per_s"] / base
        same = ports.get(row["threads"])
        row["ratio_same_threads"] = row["samples_per_s"] / same if same else None
    return dict(rows=rows, steps=steps, batch=batch, rounds=rounds)
