"""The contract between the CLI / trainer and each data pipeline: ``Pipeline`` and what its
hooks take and give (``DataSource`` in, ``Prepared`` out; ``GenerateOptions`` in, files out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from midigen_tf.io.midi import MidiStyle


def silent(message: str) -> None:
    """The default ``echo``: reports go nowhere (the CLI passes ``click.echo``)."""


@dataclass
class DataSource:
    """Where the training music is and how to read it."""

    data_dir: Path
    cache_dir: Path
    validation_split: float = 0.0
    seed: int = 0
    jobs: int = 0  # parser processes; 0 = one per core
    options: dict[str, Any] = field(default_factory=dict)  # pipeline-specific, from the CLI
    echo: Callable[[str], None] = silent  # where prepare reports (the CLI: click.echo)


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
    samples: int = 0
    report: str = ""


def with_held_out(prepared: Prepared, data_dir, every: int, original: bool = False) -> Prepared:
    """``prepared`` with the files ``hold_out_every`` left out named in its bundle and report."""
    if every:
        from midigen_tf.data.files import held_out_names

        names = held_out_names(data_dir, every, original=original)
        prepared.extra["held_out"] = names
        prepared.report += (f"\nheld out (never trained on): 1 file in every {every}, "
                            f"{len(names)} files (listed in the bundle)")
    return prepared


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
    kernel: str = "auto"  # how a step is computed: fused.KERNELS (docs/performance.md)
    extra: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = silent  # where generate reports (the CLI: click.echo)
    style: MidiStyle = MidiStyle()  # --bpm, --program of every MIDI file written (io.midi)

    def __post_init__(self) -> None:
        """The one check of the shared options (the CLI, the app and tests all build these)."""
        from midigen_tf.errors import MidigenError
        from midigen_tf.fused import KERNELS
        from midigen_tf.generate import ENGINES
        from midigen_tf.sampling import check_options

        if self.n < 1:
            raise MidigenError(f"-n {self.n}: the number of events to generate must be at least 1",
                               hint="e.g. -n 500")
        if self.num_outputs < 1:
            raise MidigenError(f"--num-outputs {self.num_outputs} must be at least 1")
        if self.engine not in ENGINES:
            raise MidigenError(f"unknown engine {self.engine!r}", hint=f"use one of {', '.join(ENGINES)}")
        if self.kernel not in KERNELS:
            raise MidigenError(f"unknown kernel {self.kernel!r}", hint=f"use one of {', '.join(KERNELS)}")
        check_options(self.temperature, self.top_k, self.top_p)

    def refuse_extra(self, known, message: str, hint: str) -> None:
        """A ``MidigenError`` when ``extra`` (the ``-O`` options) has a key not in ``known``;
        ``message`` names them where it says ``{}``."""
        unknown = sorted(set(self.extra) - set(known))
        if unknown:
            from midigen_tf.errors import MidigenError

            raise MidigenError(message.format(", ".join(unknown)), hint=hint)

    def report_stuck(self, rows) -> None:
        """Say so when a piece is one token repeated (argmax of an undertrained model gets stuck
        on its most frequent token): the user hears one pitch and should know why."""
        for row, path in zip(rows, self.output_paths()):
            if len(row) > 1 and (row == row[0]).all():
                how = ("argmax of an undertrained model sticks to one token" if
                       self.temperature is None and self.top_k is None and self.top_p is None
                       else "the model gives that token almost all the probability")
                self.echo(f"note: {path} repeats one token {len(row)} times ({how}); sample "
                          "with --temperature 0.8 --top-p 0.95, or train longer")

    def output_paths(self) -> list[Path]:
        """``out.mid`` for one piece; ``out-1.mid``, ``out-2.mid`` ... for several."""
        out = Path(self.output)
        if self.num_outputs == 1:
            return [out]
        return [out.with_name(f"{out.stem}-{i + 1}{out.suffix}") for i in range(self.num_outputs)]


def no_after_training(model, prepared: Prepared, weights_dir: Path, history: list[dict],
                      echo: Callable[[str], None]) -> None:
    """The default ``after_training``: nothing beyond what the trainer writes for every family."""


def no_callbacks(config: dict[str, Any]) -> list:
    """The default ``callbacks``: none beyond the trainer's own."""
    return []


SAMPLING_OPTIONS = {"temperature": "--temperature", "top_k": "--top-k", "top_p": "--top-p"}


@dataclass(frozen=True)
class Capabilities:
    """What a family's generation can do, declared once; ``check`` is the one refusal of the
    rest, in the engine's one-line form (``stepwise.refuse``). A refusal that depends on the
    model or on ``-O`` options stays with the pipeline (e.g. the MAESTRO regression models)."""

    stateful: str | None = None  # None: --engine stateful works; else why it cannot
    refused_sampling: tuple[tuple[str, str, str], ...] = ()  # (option, why, use instead)

    def check(self, options: GenerateOptions, name: str) -> None:
        from midigen_tf.stepwise import refuse

        if options.engine == "stateful" and self.stateful:
            raise refuse(name, "generate with --engine stateful", self.stateful, "--engine windowed")
        for option, why, instead in self.refused_sampling:
            if getattr(options, option) is not None:
                raise refuse(name, f"use {SAMPLING_OPTIONS[option]}", why, instead)


@dataclass(frozen=True)
class Pipeline:
    """Every hook a pipeline provides; a hook left out gets the default written here.

    Each module in ``midigen_tf/pipelines`` ends with ``PIPELINE = Pipeline(...)``;
    ``registry.pipeline(family)`` returns it. The trainer and the CLI call only these hooks.

    * ``prepare(config, source: DataSource) -> Prepared``: the training (and validation) batches
      and the config completed with data-derived values; reports through ``source.echo``.
    * ``generate(model, bundle, options: GenerateOptions) -> list[Path]``: the files written.
    * ``default_data``: the ``--data`` default. ``None``: a folder of MIDI files, ``midi_songs/``,
      filled with the default corpus when empty (``data/corpus.ensure_corpus``).
    * ``after_training(model, prepared, weights_dir, history_rows, echo) -> None``: what to
      evaluate, write and report once training is done (chief worker only). Default: nothing.
    * ``callbacks(config) -> list``: Keras callbacks added to the trainer's own. Default: none.
    * ``capabilities``: what its generation can do (``Capabilities``); ``run`` checks it.
    * ``auto_kernel``: engine -> the kernel ``--kernel auto`` means for this family's models
      where the benchmark (``python -m benchmarks --sections sampling``) measured one faster
      than ``fused``. Default: none (``fused`` for both engines).
    """

    name: str
    prepare: Callable[..., Prepared]
    generate: Callable[..., list[Path]]
    default_data: str | None = None
    after_training: Callable[..., None] = no_after_training
    callbacks: Callable[[dict[str, Any]], list] = no_callbacks
    auto_kernel: Mapping[str, str] = field(default_factory=dict)
    capabilities: Capabilities = Capabilities()

    def run(self, model, bundle, options: GenerateOptions) -> list[Path]:
        """``generate``, once ``capabilities`` allow the options (the CLI and the app call
        this)."""
        self.capabilities.check(options, bundle.config.get("preset") or self.name)
        return self.generate(model, bundle, options)
