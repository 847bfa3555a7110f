"""Training on more than one device or machine with ``tf.distribute`` (Keras 3, TF backend).

* ``default``: one device, no strategy (what every report did).
* ``mirrored``: ``MirroredStrategy``, all local GPUs; Keras splits each batch across them.
* ``multi-worker``: ``MultiWorkerMirroredStrategy`` across processes or machines described by
  the ``TF_CONFIG`` environment variable. Every worker prepares the same data (sorted files,
  same seed, so the same vocabulary and batch order; ``check_same_data`` stops them all with
  a clear error when they did not); worker ``w`` of ``k`` trains on rows
  ``w, w + k, ...`` of every batch, so a step sees the same global batch as a one-process run
  and the gradients are averaged across workers. Only the chief writes into the weights
  folder; the others write into a throw-away folder (TensorFlow's recommended pattern, which
  keeps every worker running the same code).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from midigen_tf.errors import MidigenError

STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass
class Placement:
    """The strategy of a run and this process's place in it."""

    name: str = "default"
    strategy: Any = None  # a tf.distribute.Strategy, or None for the default
    worker_index: int = 0
    num_workers: int = 1
    is_chief: bool = True

    def scope(self):
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def read_tf_config() -> dict:
    """The parsed ``TF_CONFIG`` (cluster + task), with a clear error when it is unusable."""
    raw = os.environ.get("TF_CONFIG")
    hint = ('set TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}} (index 1 on host2)')
    if not raw:
        raise MidigenError("--strategy multi-worker needs the TF_CONFIG environment variable", hint)
    try:
        cfg = json.loads(raw)
        workers = cfg["cluster"]["worker"]
        task_type, index = cfg["task"]["type"], int(cfg["task"]["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise MidigenError(f"TF_CONFIG is not valid ({type(err).__name__}: {err})", hint) from None
    if task_type not in cfg["cluster"] or index >= len(cfg["cluster"][task_type]):
        raise MidigenError(f"TF_CONFIG task {task_type}:{index} is not in its cluster", hint)
    if not isinstance(workers, list) or not workers:
        raise MidigenError("TF_CONFIG lists no workers", hint)
    return cfg


def worker_position(cfg: dict) -> tuple[int, int, bool]:
    """``(index, count, is_chief)`` of this task among all training tasks (chief first)."""
    cluster, task = cfg["cluster"], cfg["task"]
    tasks = [("chief", i) for i in range(len(cluster.get("chief", [])))]
    tasks += [("worker", i) for i in range(len(cluster["worker"]))]
    me = (task["type"], int(task["index"]))
    index = tasks.index(me) if me in tasks else 0
    return index, len(tasks), index == 0


def parse_cpu_threads(spec: str) -> tuple[int, int]:
    """``"INTRA,INTER"`` (or ``"INTRA"``: inter-op left at TensorFlow's choice, 0) as numbers."""
    hint = ("give --cpu-threads INTRA,INTER with whole numbers >= 1, e.g. --cpu-threads 1,2 "
            "on 2 cores (one thread per op, two ops side by side)")
    parts = [p.strip() for p in str(spec).split(",")]
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise MidigenError(f"--cpu-threads {spec!r} is not INTRA,INTER", hint)
    return int(parts[0]), int(parts[1]) if len(parts) == 2 else 0


def set_cpu_threads(spec: str | None) -> tuple[int, int] | None:
    """Fix TensorFlow's CPU thread pools for this process: ``INTRA`` threads inside one op (a
    matrix product), ``INTER`` ops run side by side (``FastLSTM``'s two row streams, the
    optimizer's updates). ``None`` leaves TensorFlow's defaults (both = the number of cores).
    The pools are made when TensorFlow runs its first op, so this must come before that."""
    if spec is None:
        return None
    intra, inter = parse_cpu_threads(spec)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as err:
        raise MidigenError(f"--cpu-threads {spec} came after TensorFlow had started ({err})",
                           hint="set the thread counts at the start of the process") from None
    return intra, inter


def make_placement(name: str | None) -> Placement:
    """The strategy called ``name`` (one of ``STRATEGIES``)."""
    name = name or "default"
    if name not in STRATEGIES:
        raise MidigenError(f"unknown strategy {name!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    if name == "default":
        return Placement()
    import tensorflow as tf

    if name == "mirrored":
        return Placement(name, tf.distribute.MirroredStrategy())
    cfg = read_tf_config()
    index, count, chief = worker_position(cfg)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Placement(name, strategy, index, count, chief)


def prepare_model(placement: Placement, model) -> None:
    """Let Keras 3 ``fit`` a model built in ``placement.scope()`` under multi-worker training.

    Keras 3.15's ``fit`` under ``MultiWorkerMirroredStrategy`` fails twice (known upstream as
    tensorflow/tensorflow#72388): it all-reduces a whole ``(x, y)`` batch to build the model
    (``PerReplica`` cannot be converted to a Tensor) and all-reduces scalar logs along axis 0
    ("Invalid reduction dimension 0"). So: the optimizer is built here, in the scope; the model
    forgets the strategy it was built under and is fitted inside the scope instead (Keras then
    takes the strategy from the scope and skips the first reduce); and every log of
    ``train_step``/``test_step`` becomes a vector of one, which the second reduce averages
    over the workers into the scalar the callbacks expect. Nothing else changes.
    """
    if placement.num_workers < 2:
        return
    import keras

    with placement.scope():
        model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None  # noqa: SLF001 -- see above

    def as_vectors(step):
        return lambda data: {k: keras.ops.reshape(v, (1,)) for k, v in step(data).items()}

    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)


def usable_batches(dataset, count: int) -> int:
    """Batches of a tf.data ``dataset`` that give each of ``count`` workers at least one row
    (a short last batch may not). A ``data.batches`` dataset tells its sizes; any other
    finite dataset is counted (its last batch is read once)."""
    import tensorflow as tf

    steps = int(dataset.cardinality())
    if steps < 0:
        raise MidigenError("multi-worker training needs a dataset of known, finite length",
                           hint="build the batches with midigen_tf.data.batches.window_dataset")
    samples, size = getattr(dataset, "samples", None), getattr(dataset, "batch_size", None)
    if samples is not None and size is not None:
        last = samples - (steps - 1) * size if steps else 0
    else:
        last = next(iter(dataset.skip(steps - 1).take(1)), None) if steps else None
        last = int(tf.nest.flatten(last)[0].shape[0]) if last is not None else 0
    if steps and last < count:
        steps -= 1
    if steps < 1:
        raise MidigenError(f"the data gives fewer rows per batch than the {count} workers",
                           hint="use more data or a larger --batch-size")
    return steps


def shard(placement: Placement, dataset):
    """``(distributed dataset, steps per epoch)``: this worker's rows of every batch.

    ``dataset`` is a finite ``tf.data.Dataset`` of ``(x, y)`` batches (nested inputs allowed),
    the same on every worker (same data, same seed, so the same order). Worker ``w`` of ``k``
    keeps rows ``w, w + k, ...`` of every batch (sliced in the graph), so a step sees the same
    global batch as a one-process run; the epoch's batches repeat (reshuffled) for Keras.
    """
    import tensorflow as tf

    steps = usable_batches(dataset, placement.num_workers)

    def make(context):
        index, count = context.input_pipeline_id, context.num_input_pipelines
        rows = lambda *batch: tf.nest.map_structure(lambda a: a[index::count], batch)  # noqa: E731
        return dataset.take(steps).map(rows).repeat()

    return placement.strategy.distribute_datasets_from_function(make), steps


def fingerprint(value: Any) -> int:
    """A small stable number for a JSON-able value (CRC-32 of its JSON, kept to 20 bits so that
    sums of squares over many workers stay exact in float64)."""
    import zlib

    text = json.dumps(value, sort_keys=True, default=str)
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFF


def check_same_data(placement: Placement, facts: dict[str, int]) -> None:
    """Stop every worker with a clear error when they did not prepare the same data.

    Workers that differ (other files, a file one of them could not read, other settings) would
    otherwise run different numbers of steps and meet in the wrong collective, failing later
    with TensorFlow's "Shape mismatch in the collective instance". ``facts`` are small integers
    (window counts, fingerprints); their sums and sums of squares over the replicas equal
    ``n * x`` and ``n * x**2`` exactly when every replica holds the same ``x``.
    """
    if placement.num_workers < 2:
        return
    import numpy as np
    import tensorflow as tf

    values = np.array([float(v) for v in facts.values()], dtype=np.float64)
    local = np.stack([values, values ** 2])  # (2, facts): each fact and its square
    strategy = placement.strategy
    total = strategy.reduce("SUM", strategy.run(lambda: tf.constant(local)), axis=None).numpy()
    same = (total == strategy.num_replicas_in_sync * local).all(axis=0)
    differ = [name for name, ok in zip(facts, same) if not ok]
    if differ:
        raise MidigenError(
            f"the {placement.num_workers} workers prepared different data ({', '.join(differ)} "
            f"differ; worker {placement.worker_index} has "
            + ", ".join(f"{n} {facts[n]}" for n in differ) + ")",
            hint="give every worker the same --data files, --set settings and --seed; "
                 "see each worker's data report for a file it skipped")
