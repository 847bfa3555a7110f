"""The contract between the CLI / trainer and each data pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DataSource:
    """Where the training music is and how to read it."""

    data_dir: Path
    cache_dir: Path
    validation_split: float = 0.0
    seed: int = 0
    jobs: int = 0  # parser processes; 0 = one per core
    options: dict[str, Any] = field(default_factory=dict)  # pipeline-specific, from the CLI


@dataclass
class Prepared:
    """What ``prepare`` hands the trainer.

    ``train``/``val`` are finite ``tf.data.Dataset`` objects (``data.batches``) yielding
    ``(x, y)`` batches, built lazily (memory grows with the corpus, not with windows).
    ``config`` is the config completed with data-derived values (e.g. ``n_vocab``); ``vocab``
    and ``extra`` are JSON-able and saved in every bundle; ``arrays`` are numpy arrays saved
    once beside the checkpoints (e.g. token ids for a random start window) as ``<name>.npy``.
    """

    train: Any
    config: dict[str, Any]
    val: Any = None
    vocab: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    samples: int = 0
    report: str = ""


@dataclass
class GenerateOptions:
    """Sampling options shared by every generator; ``extra`` holds pipeline-specific ones."""

    n: int = 500
    output: Path = Path("test_output.mid")
    seed: int | None = None
    temperature: float | None = None  # None: argmax, as the reports
    top_k: int | None = None
    top_p: float | None = None
    primer: Path | None = None
    num_outputs: int = 1
    engine: str = "windowed"  # "windowed" (faithful) or "stateful"
    extra: dict[str, Any] = field(default_factory=dict)

    def output_paths(self) -> list[Path]:
        """``out.mid`` for one piece; ``out-1.mid``, ``out-2.mid`` ... for several."""
        out = Path(self.output)
        if self.num_outputs == 1:
            return [out]
        return [out.with_name(f"{out.stem}-{i + 1}{out.suffix}") for i in range(self.num_outputs)]
