"""``midigen render``, ``midigen evaluate`` and ``midigen app``: listen, look, compare.

Added to the ``midigen`` group by ``register(main)`` at the bottom of ``cli.py`` (this module
does not import ``cli``, so ``python -m midigen_tf.cli`` gets them too).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from midigen_tf.config import WEIGHTS_ROOT
from midigen_tf.errors import MidigenError


def _path_option(name: str, what: str):
    """``--wav`` alone: beside the MIDI (or in --out-dir); ``--wav PATH``: there (one MIDI only)."""
    return click.option(f"--{name}", is_flag=False, flag_value="", default=None, metavar="[PATH]",
                        help=f"Write {what}; PATH only with one MIDI file (default: beside it).")


def parse_options(command):
    """``--jobs``, ``--cache-dir``, ``--no-cache``: how a command parses its corpus."""
    for option in reversed([
            click.option("--jobs", type=click.IntRange(min=0), default=0,
                         help="Parser processes (0: one per core)."),
            click.option("--cache-dir", default=None, help="Parsed-file cache (default .cache/midigen)."),
            click.option("--no-cache", is_flag=True, help="Parse every file again.")]):
        command = option(command)
    return command


class GMProgram(click.ParamType):
    """A General MIDI program: 0-127 or an instrument name (``violin``, ``"Acoustic Bass"``)."""

    name = "program"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        from midigen_tf.io.midi import program_number

        try:
            return program_number(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def midi_style_options(command):
    """``--bpm``, ``--program``: the tempo and instrument of the MIDI files a command writes."""
    for option in reversed([
            click.option("--bpm", type=click.FloatRange(min=4), default=None, metavar="BPM",
                         help="Tempo of the MIDI written (default: 120, the reports'). The "
                              "notes keep their beats: --bpm 60 plays at half speed."),
            click.option("--program", type=GMProgram(), default=None, metavar="0-127|NAME",
                         help="General MIDI instrument of the MIDI written: 0-127 or a GM name, "
                              "e.g. 40 or violin (default: 0, piano).")]):
        command = option(command)
    return command


def echo_audio(rendered) -> None:
    click.echo(f"wrote {rendered.path} ({rendered.describe()})")


def render_wavs(paths, engine: str = "auto", soundfont=None) -> list:
    """A WAV beside each MIDI file of ``paths`` (``generate --wav``), with a progress bar."""
    from tqdm.auto import tqdm

    from midigen_tf.io.render import render_wav

    midis = [Path(p) for p in paths if Path(p).suffix.lower() in (".mid", ".midi")]
    done = []
    for midi in tqdm(midis, desc="rendering", unit="file", disable=None if len(midis) > 1 else True):
        done.append(render_wav(midi, None, engine, soundfont))
        echo_audio(done[-1])
    return done


@click.command("render")
@click.argument("midi", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_path_option("wav", "audio (WAV)")
@_path_option("roll", "a piano-roll PNG")
@_path_option("musicxml", "MusicXML")
@_path_option("score", "an engraved score PNG (verovio)")
@click.option("--out-dir", default=None, help="Folder for the outputs (default: beside each MIDI).")
@click.option("--pages", type=click.IntRange(min=1), default=None,
              help="Score pages to draw (default: all; page k is written as NAME.score-k.png).")
@click.option("--engine", type=click.Choice(["auto", "fluidsynth", "sine"]), default="auto",
              show_default=True, help="Audio: FluidSynth + GM soundfont, or the numpy sine synthesiser.")
@click.option("--soundfont", default=None, help="A .sf2 file (default: $MIDIGEN_SOUNDFONT or the "
                                                "installed General MIDI soundfont).")
def render_cmd(midi, wav, roll, musicxml, score, out_dir, pages, engine, soundfont):
    """Listen to and look at MIDI files: WAV, piano roll, MusicXML and score.

    With no output option, all four are written beside each file.
    """
    from tqdm.auto import tqdm

    from midigen_tf.io.render import default_paths, render_all

    chosen = {"wav": wav, "roll": roll, "musicxml": musicxml, "score": score}
    kinds = tuple(k for k, v in chosen.items() if v is not None) or tuple(chosen)
    explicit = {k: Path(v) for k, v in chosen.items() if v}
    if explicit and len(midi) > 1:
        raise MidigenError(f"--{next(iter(explicit))} PATH names one output, but {len(midi)} MIDI "
                           "files were given", hint="use --out-dir DIR for several files")
    for m in tqdm(midi, desc="rendering", unit="file", disable=None if len(midi) > 1 else True):
        done = render_all(m, {**default_paths(m, out_dir), **explicit}, kinds, engine, soundfont,
                          pages)
        for kind, path in done.files.items():
            if kind == "wav":
                echo_audio(done.audio)
            elif kind == "score":
                written, total = len(done.score_pages), done.score_page_count
                click.echo(f"wrote {written} of {total} score page(s): "
                           + ", ".join(str(p) for p in done.score_pages))
            else:
                click.echo(f"wrote {path}")
        for kind, why in done.problems.items():
            click.echo(f"no {kind} for {m}: {why}", err=True)


def _groups(specs: tuple[str, ...]) -> dict[str, list[Path]]:
    from midigen_tf.evaluate_report import midi_paths

    out: dict[str, list[Path]] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or Path(spec).exists():
            label, path = Path(spec).stem or spec, spec
        if label in out or label in ("training", "held-out"):
            raise MidigenError(f"two groups are labelled {label!r}", hint="name them LABEL=PATH")
        out[label] = midi_paths(path)
    return out


@click.command("evaluate")
@click.argument("generated", nargs=-1, required=True, metavar="[LABEL=]PATH...")
@click.option("--corpus", default=None, help="The training corpus folder (default: midi_songs, "
                                             "as for training).")
@click.option("--held-out", default=None, help="A folder of music the model never saw (default: "
                                               "every Nth corpus file, see --held-out-every).")
@click.option("--held-out-every", type=int, default=10, show_default=True,
              help="Hold out every Nth corpus file (sorted) when --held-out is not given.")
@click.option("--tokens", type=click.Choice(["events", "classic"]), default="events", show_default=True,
              help="Tokens for repetition and copying: onset groups of pitches (any model) or "
                   "seed 003's note/chord tokens.")
@click.option("-o", "--output", default="evaluation", show_default=True,
              help="Folder for evaluation.md, evaluation.json, pitch_classes.png and rhythm.png.")
@parse_options
def evaluate_cmd(generated, corpus, held_out, held_out_every, tokens, output, jobs, cache_dir, no_cache):
    """Objective metrics of generated MIDI (files or folders, one column each) against the
    training corpus and a held-out part: Markdown table, JSON and a pitch-class histogram."""
    from midigen_tf.data.corpus import DEFAULT_DATA
    from midigen_tf.data.cache import DEFAULT_CACHE_DIR
    from midigen_tf.evaluate_report import evaluate, markdown_table, write_report

    result = evaluate(_groups(generated), corpus or DEFAULT_DATA, held_out, held_out_every, tokens,
                      cache_dir=None if no_cache else (cache_dir or DEFAULT_CACHE_DIR), jobs=jobs)
    for path, reason in result.report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    click.echo(markdown_table(result))
    for path in write_report(result, output).values():
        click.echo(f"wrote {path}")


@click.command("app")
@click.option("--weights-root", default=WEIGHTS_ROOT, show_default=True,
              help="Folder searched (recursively) for checkpoints with bundles.")
@click.option("--port", type=int, default=8501, show_default=True,
              help="TCP port to serve the page on.")
@click.option("--address", default="127.0.0.1", metavar="HOST",
              help="Interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for "
                   "every interface).")
@click.option("--browser/--headless", default=None,
              help="Open a browser once the page is up, or never (default: only when run from a "
                   "terminal with a display). The server itself never prompts.")
def app_cmd(weights_root, port, address, browser):
    """Start the web app: pick a model, generate, listen, look, download.

    Runs in the foreground until Ctrl-C or SIGTERM, which stop the server too.
    """
    from midigen_tf.app.launch import (APP_SCRIPT, interactive, page_url, serve,
                                       streamlit_command)

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise MidigenError("the web app needs Streamlit", hint="pip install streamlit "
                           "(or pip install .[app])") from None
    if not APP_SCRIPT.exists():
        raise MidigenError(f"the app script {APP_SCRIPT} is missing",
                           hint="reinstall midigen_tf (pip install .[app])")
    cmd = streamlit_command(port, address, weights_root)
    click.echo(" ".join(cmd))
    open_browser = interactive() if browser is None else browser
    sys.exit(serve(cmd, page_url(port, address), open_browser, echo=click.echo))


def register(group: click.Group) -> None:
    """Add ``render``, ``evaluate`` and ``app`` to the ``midigen`` group."""
    for command in (render_cmd, evaluate_cmd, app_cmd):
        group.add_command(command)
