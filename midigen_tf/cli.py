"""The ``midigen`` command line: one click group behind ``lstm.py``, ``predict.py`` and ``midigen``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from midigen_tf import config as config_choices
from midigen_tf.cli_tools import midi_style_options, parse_options
from midigen_tf.console import quiet_tensorflow_import
from midigen_tf.data.corpus import DEFAULT_DATA
from midigen_tf.errors import MidigenError
from midigen_tf.references import REFERENCES

quiet_tensorflow_import()  # keep TF/CUDA start-up chatter out, whichever command imports it


class _Message(click.ClickException):
    """A ``MidigenError`` as a click error: shown as "<label>: message" (``err.label``, "Error"
    unless the error says otherwise), exiting with ``err.exit_code`` (1; 130 for Ctrl-C)."""

    def __init__(self, err: MidigenError):
        super().__init__(str(err))
        self.exit_code, self.label = err.exit_code, err.label

    def show(self, file=None) -> None:
        # Ctrl-C lands in the middle of a progress bar's line: start the message on its own
        start = "\n" if self.exit_code == 130 else ""
        click.echo(f"{start}{self.label}: {self.format_message()}", file=file, err=file is None)


class Group(click.Group):
    """Turns a MidigenError into a one-paragraph message and exit code 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MidigenError as err:
            raise _Message(err) from err


def friendly(command: click.Command) -> click.Command:
    """The same error handling for a command run on its own (lstm.py, predict.py)."""
    original = command.invoke

    def invoke(ctx):
        try:
            return original(ctx)
        except MidigenError as err:
            raise _Message(err) from err

    command.invoke = invoke
    return command


@click.group(cls=Group)
@click.version_option(package_name="midigen_tf")
def main():
    """Train and sample the music generators of five classic LSTM reports (Keras 3)."""


def _source(data: str, cache_dir: str | None, no_cache: bool, validation_split: float,
            seed: int | None, jobs: int, options: dict):
    from midigen_tf.data.cache import DEFAULT_CACHE_DIR
    from midigen_tf.pipelines.base import DataSource

    if not 0 <= validation_split < 1:
        raise MidigenError(f"--validation-split {validation_split} must be in [0, 1)")
    return DataSource(data_dir=Path(data), validation_split=validation_split, seed=seed or 0,
                      cache_dir=None if no_cache else Path(cache_dir or DEFAULT_CACHE_DIR),
                      jobs=jobs, options=options, echo=click.echo)


@main.command("train")
@click.option("--model", "preset", default="lstm", show_default=True,
              help="Model preset (see `midigen models`).")
@click.option("--data", default=None,
              help="Folder of training music (.mid/.midi, recursive). Default: midi_songs/, "
                   "filled with the default corpus when empty; for folk models, `esac` (the "
                   "German ESAC tunes inside music21; `esac:kinder,altdeu` picks collections).")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (default: the preset's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size (default: the preset's).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a preset setting, e.g. --set units=[32,32,32] (repeatable).")
@click.option("--validation-split", type=float, default=None,
              help="Fraction of windows held out; then val_loss is reported and monitored.")
@click.option("--weights-dir", default=None, metavar="DIR", help="Where checkpoints go (default: "
              "weights/PRESET, one folder per preset, so runs never overwrite each other).")
@click.option("--seed", type=int, default=None, help="Seed for repeatable runs.")
@parse_options
@click.option("--compare", "compare_ref", type=click.Choice(list(REFERENCES)), default=None,
              help="After training, print our per-epoch figures beside the report's table.")
@click.option("--resume", is_flag=True,
              help="Continue the run saved in --weights-dir (last.keras): weights, optimizer "
                   "state, epoch count and history. --epochs N extends it.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]),
              default="default", show_default=True,
              help="tf.distribute: mirrored = all local GPUs; multi-worker = the cluster in "
                   "TF_CONFIG (run the same command on every worker).")
@click.option("--tensorboard", default=None, metavar="DIR",
              help="Also write TensorBoard logs to DIR (view: tensorboard --logdir DIR).")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="M", help="Wall-time budget in minutes of training: no epoch starts that "
                                "would end past it (the longest epoch so far says), and one "
                                "still running at M minutes stops at a batch end. Train in "
                                "parts with --max-minutes M --resume.")
@click.option("--cpu-threads", default=None, metavar="INTRA,INTER",
              help="TensorFlow's CPU threads: INTRA per op, INTER ops side by side (default: "
                   "TensorFlow's, both = cores). Same maths; on 2 cores 1,2 trains faster, "
                   "most with --set lstm_impl=fast (see docs/performance.md).")
def train_cmd(preset, data, epochs, batch_size, settings, validation_split, weights_dir, seed,
              jobs, cache_dir, no_cache, compare_ref, resume, strategy, tensorboard,
              max_minutes, cpu_threads):
    """Train a model (default: the classic seed-003 note/chord LSTM on midi_songs/)."""
    from midigen_tf import compare, config as config_lib, registry
    from midigen_tf.data.corpus import ensure_corpus
    from midigen_tf.distribute import make_placement, set_cpu_threads

    threads = set_cpu_threads(cpu_threads)  # before TensorFlow runs anything
    if threads:
        click.echo(f"CPU threads: {threads[0]} per op, {threads[1] or 'the default number of'} ops "
                   "side by side")

    weights_dir = weights_dir or str(Path(config_choices.WEIGHTS_ROOT) / preset)
    overrides = config_lib.parse_assignments(settings)
    if epochs is not None:
        overrides["epochs"] = epochs
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    if resume:
        from midigen_tf.train import resume_config

        config = resume_config(weights_dir, overrides)
        explicit = click.get_current_context().get_parameter_source("preset")
        if explicit == click.core.ParameterSource.COMMANDLINE and preset != config["preset"]:
            raise MidigenError(f"{weights_dir} holds a {config['preset']!r} run, not {preset!r}",
                               hint=f"resume with --model {config['preset']} (or leave --model out)")
        seed = config.get("seed") if seed is None else seed
    else:
        config = registry.make_config(preset, overrides)
    config["seed"] = seed
    if validation_split is None:
        validation_split = float(config.get("validation_split", 0.0))
    if compare_ref:  # refused before training, not after it
        compare.check_family(compare_ref, config["family"], config["preset"])
    pipeline = registry.pipeline(config["family"])
    if pipeline.default_data is not None:  # a pipeline with its own sources (folk: ESAC)
        data = data or pipeline.default_data
    else:
        data = str(ensure_corpus(data or DEFAULT_DATA, DEFAULT_DATA, echo=click.echo))
    source = _source(data, cache_dir, no_cache, validation_split, seed, jobs, {})
    from midigen_tf.train import train

    result = train(config, source, weights_dir, echo=click.echo, resume=resume,
                   placement=make_placement(strategy), tensorboard=tensorboard,
                   max_minutes=max_minutes)
    times = result.seconds_per_epoch
    if times:
        click.echo(f"trained {len(times)} epoch(s), {sum(times) / len(times):.1f} s per epoch; "
                   f"best checkpoint: {Path(weights_dir) / 'weights.hdf5'}")
    if compare_ref:
        run = compare.run_info(result.config, result.prepared.vocab, str(data), str(weights_dir))
        click.echo(compare.compare_table(compare_ref, result.history, run))


@main.command("generate")
@click.argument("weights")
@click.option("-n", "--length", "n", type=int, default=500, show_default=True,
              help="How much to generate: notes (note/chord, melody), pseudo-notes, 0.1 s frames (piano roll).")
@click.option("-o", "--output", default="test_output.mid", show_default=True, help="Output MIDI.")
@click.option("--seed", type=int, default=None, help="Seed for the start window and sampling.")
@click.option("--temperature", type=float, default=None, help="Sample at this temperature (default: argmax).")
@click.option("--top-k", type=int, default=None, help="Sample among the k most likely tokens.")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling: smallest set with mass p.")
@click.option("--primer", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Start from this MIDI file instead of a random training window.")
@click.option("--num-outputs", type=click.IntRange(min=1), default=1, help="Pieces generated together.")
@click.option("--engine", type=click.Choice(config_choices.ENGINES), default="windowed",
              show_default=True,
              help="windowed: a fresh window per note (the reports); stateful: carry the "
                   "recurrent state forward, one step per note (much faster).")
@click.option("--kernel", type=click.Choice(config_choices.KERNELS), default="auto",
              show_default=True,
              help="How a step is computed: fused (one matrix product per LSTM layer, "
                   "XLA-compiled), xla (the layers' own cells, XLA-compiled), layers (no XLA); "
                   "auto: fused (the fastest on a quiet machine; same tokens).")
@click.option("--notes", "notes_file", default=None,
              help="For weights from the original Keras 2 scripts (no bundle): their data/notes pickle.")
@click.option("--model", "preset", default="lstm", show_default=True,
              help="With --notes: the preset the legacy weights were trained with.")
@click.option("-O", "extra", multiple=True, metavar="KEY=VALUE", help="Model-specific option (repeatable).")
@click.option("--wav", is_flag=True, help="Also render each piece to WAV beside it (FluidSynth with "
                                          "a GM soundfont, else a numpy sine synthesiser).")
@midi_style_options
def generate_cmd(weights, n, output, seed, temperature, top_k, top_p, primer, num_outputs, engine,
                 kernel, notes_file, preset, extra, wav, bpm, program):
    """Write music from saved weights (default: 500 notes to test_output.mid, argmax).

    WEIGHTS: a checkpoint (.hdf5, .keras, .weights.h5), the folder a training run wrote (its
    best checkpoint), or the name of a shipped model (`midigen models` lists them)."""
    from midigen_tf import config as config_lib
    from midigen_tf.io.midi import MidiStyle
    from midigen_tf.loading import load_for_generation
    from midigen_tf.pipelines.base import GenerateOptions

    options = GenerateOptions(n=n, output=Path(output), seed=seed, temperature=temperature,
                              top_k=top_k, top_p=top_p, primer=Path(primer) if primer else None,
                              num_outputs=num_outputs, engine=engine, kernel=kernel,
                              extra=config_lib.parse_assignments(extra, "-O"), echo=click.echo,
                              style=MidiStyle(bpm=bpm, program=program))
    model, bundle, pipeline = load_for_generation(weights, notes_file=notes_file, preset=preset)
    paths = pipeline.run(model, bundle, options)
    for path in paths:
        click.echo(f"wrote {path}")
    if wav:
        from midigen_tf.cli_tools import render_wavs

        render_wavs(paths)


@main.command("compare")
@click.argument("reference", type=click.Choice(list(REFERENCES)))
@click.option("--weights-dir", default=None,
              help="The training run's folder (its history.json), or a shipped model's name. "
                   "Default: weights/PRESET of the preset that trains the reference's model.")
def compare_cmd(reference, weights_dir):
    """Print a training run's per-epoch figures beside a report's table.

    First what is compared: the report's model and corpus, the run's preset, corpus and
    vocabulary size (from WEIGHTS_DIR/weights.json). A run of another family is refused."""
    from midigen_tf import compare, shipped

    ref = REFERENCES[reference]
    weights_dir = shipped.resolve_folder(weights_dir or Path(config_choices.WEIGHTS_ROOT) / ref.preset)
    history = compare.load_history(weights_dir, lambda: compare.runs_of_family(
        config_choices.WEIGHTS_ROOT, ref.family, shipped.SHIPPED_DIR))
    click.echo(compare.compare_table(reference, history, compare.read_run(weights_dir)))


MODEL_SETTINGS = ("units", "sequence_length", "epochs", "batch_size")  # what `models` shows


@main.command("models")
def models_cmd():
    """List the model presets, then the trained models shipped with midigen_tf."""
    from midigen_tf import registry, shipped

    click.echo("presets (train with --model NAME; --set KEY=VALUE changes a setting):")
    for name, p in registry.presets().items():
        shown = ", ".join(f"{k}={json.dumps(p.defaults[k], separators=(',', ':'))}"
                          for k in MODEL_SETTINGS if p.defaults.get(k) is not None)
        click.echo(f"  {name:20s} family={p.family:19s} data={p.pipeline:11s} {shown}")
    models = shipped.available()
    click.echo(f"shipped models (predict.py NAME; model cards in "
               f"{shipped.SHIPPED_DIR}):")
    for model in models.values():
        click.echo(f"  {model.summary()}")
    if not models:
        click.echo("  none in this checkout")


@main.command("corpus")
@click.argument("directory", default=DEFAULT_DATA)
def corpus_cmd(directory):
    """Build the default corpus (music21's Bach chorales + keyboard pieces) into DIRECTORY."""
    from midigen_tf.data.corpus import build_default_corpus

    files = build_default_corpus(directory, echo=click.echo)
    click.echo(f"{len(files)} MIDI files in {directory}")


from midigen_tf.cli_tools import register as _register_tools  # noqa: E402  render, evaluate, app

_register_tools(main)

if __name__ == "__main__":
    sys.exit(main())
