"""Parsing (cold serial / cold parallel / warm cache) and peak memory of window preparation."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_midi(folder: Path, files: int, notes: int) -> list[Path]:
    from midigen_tf.io.midi import note_table, write_notes

    rng = np.random.default_rng(0)
    out = []
    for f in range(files):
        pitch = 60 + np.cumsum(rng.integers(-3, 4, notes)) % 24
        start = np.arange(notes) * 0.25
        table = note_table(pitch, rng.integers(40, 110, notes), start, start + 0.25)
        out.append(write_notes(table, folder / f"piece_{f:03d}.mid"))
    return out


def parsing(data: str | None, files: int, notes: int, echo, rounds: int = 2) -> dict:
    """files/s parsing with music21: cold with 1 process, cold with all cores, warm cache.

    The two cold runs alternate for ``rounds`` rounds (each with a fresh cache) and the best
    time of each is kept, so a burst of other work on a shared machine does not decide the ratio.
    """
    from midigen_tf.data.files import find_files
    from midigen_tf.data.notes import get_notes

    tmp = Path(tempfile.mkdtemp(prefix="midigen-bench-"))
    folder = Path(data) if data else tmp / "midi"
    if not data:
        synthetic_midi(folder, files, notes)
    count = len(find_files(folder))
    rows = {}
    for r in range(rounds):
        for label, jobs in (("cold, 1 process", 1), (f"cold, {os.cpu_count()} processes", 0)):
            echo(f"  parsing {count} files: {label} (round {r + 1} of {rounds}) ...")
            t0, c0 = time.perf_counter(), _cpu()
            tokens, _ = get_notes(folder, cache_dir=tmp / f"c{jobs}-{r}", jobs=jobs,
                                  progress=False)
            seconds = time.perf_counter() - t0
            if label not in rows or seconds < rows[label]["seconds"]:
                rows[label] = dict(seconds=seconds, tokens=len(tokens), cpu=_cpu() - c0,
                                   cores=(_cpu() - c0) / seconds)
    echo("  parsing: warm cache (fresh process) ...")  # any cold run's cache holds every file
    warm = json.loads(subprocess.run(
        [sys.executable, "-m", "benchmarks.data", "warm", str(folder), str(tmp / "c0-0")],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    rows["warm cache (fresh process)"] = warm
    cold = rows["cold, 1 process"]["seconds"]
    for row in rows.values():
        row["files_per_s"] = count / row["seconds"]
        row["speedup"] = cold / row["seconds"]
    return dict(rows=rows, files=count, rounds=rounds,
                music21_imported_on_warm=warm["music21_imported"])


def _cpu() -> float:
    """CPU seconds the whole machine has spent busy (``/proc/stat``): the parsing workers come
    from a fork server, so they are not this process's children and ``os.times`` misses them.
    Where there is no ``/proc/stat``: this process and its finished children."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait; no guest twice
    return busy / os.sysconf("SC_CLK_TCK")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """This process's own high-water mark (``ru_maxrss`` would include the parent's: Linux
    keeps it across fork + exec)."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(argv: list[str]) -> dict:
    """Run in a fresh process: ``warm FOLDER CACHE`` or ``memory original|ours N_TOKENS``."""
    if argv[0] == "warm":
        from midigen_tf.data.notes import get_notes

        t0 = time.perf_counter()
        tokens, report = get_notes(argv[1], cache_dir=argv[2], jobs=0, progress=False)
        return dict(seconds=time.perf_counter() - t0, tokens=len(tokens), hits=report.cache_hits,
                    music21_imported="music21" in sys.modules)
    import keras  # both approaches import Keras (to_categorical / PyDataset) before the data

    from benchmarks.speed import token_stream

    n = int(argv[2])
    notes = [f"t{i:03d}" for i in token_stream(n)]
    base = _rss_mb()
    if argv[1] == "original":
        from benchmarks.original import prepare_sequences

        x, y = prepare_sequences(notes, len(set(notes)))
        shapes = [list(x.shape), list(y.shape)]
    else:
        from midigen_tf import registry
        from midigen_tf.pipelines.base import DataSource
        from midigen_tf.pipelines.notes import prepare_from_tokens

        config = registry.make_config("lstm", {})
        prepared = prepare_from_tokens(config, notes, DataSource(Path("."), Path(".")))
        x, y = next(iter(prepared.train))  # one batch gathered by the tf.data pipeline
        shapes = [prepared.samples, list(x.shape), list(y.shape)]
    del keras
    return dict(tokens=n, baseline_mb=base, peak_mb=_peak_mb(), shapes=shapes)


def memory(n_tokens: int, n_original: int, echo) -> dict:
    """Peak RSS preparing windows for ``n_tokens`` synthetic tokens; the original approach is
    measured on ``n_original`` tokens and scaled linearly when it is smaller."""
    def child(kind, n):
        echo(f"  memory: {kind}, {n:,} tokens ...")
        out = subprocess.run([sys.executable, "-m", "benchmarks.data", "memory", kind, str(n)],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    ours = child("ours", n_tokens)
    orig = child("original", n_original)
    scale = n_tokens / n_original
    orig["estimated_peak_mb"] = orig["baseline_mb"] + (orig["peak_mb"] - orig["baseline_mb"]) * scale
    return dict(ours=ours, original=orig, n_tokens=n_tokens, scaled=scale != 1)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(_child(sys.argv[1:])))
