"""Rough edges of issue 13: file modes, the faithful glob, the legacy-weights hint, pictures,
and a quiet console (no TensorFlow start-up chatter, no progress bars in a log)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import melody_notes
from midigen_tf.errors import MidigenError
from midigen_tf.io import atomic
from midigen_tf.io.midi import write_notes

ROOT = Path(__file__).resolve().parents[1]
CHATTER = ("I0000", "W0000", "WARNING: All log messages")
TINY = ["--set", "units=[8,8,8]", "--set", "sequence_length=8", "--set", "dense_units=8",
        "--batch-size", "16"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 5. written files get the mode a plain open() gives -------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_get_the_umask_mode(tmp_path, umask):
    import keras

    from midigen_tf.bundle import Bundle, save_bundle
    from midigen_tf.checkpoints import save_hdf5

    previous = os.umask(umask)
    try:
        assert atomic.current_umask() == umask
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        written = [atomic.write_text(tmp_path / "history.csv", "epoch,loss\n"),
                   atomic.write_json(tmp_path / "history.json", [{"epoch": 1}]),
                   save_bundle(tmp_path / "weights.hdf5", Bundle(config={"family": "lstm"})),
                   save_hdf5(model, tmp_path / "weights.hdf5")]
    finally:
        os.umask(previous)
    assert mode(plain) == 0o666 & ~umask
    for path in written:
        assert mode(path) == 0o666 & ~umask, path


# -- 6. faithful mode reads what the original's glob reads ---------------------------------

@pytest.fixture
def glob_corpus(tmp_path):
    d = tmp_path / "midi_songs"
    for i, name in enumerate(["b.mid", "a.mid", "sub/extra.mid", "zz_extra.MID", "c.midi"]):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        write_notes(melody_notes(12, seed=i, chords=False), d / name)
    return d


def test_faithful_mode_reads_top_level_dot_mid_only(glob_corpus):
    import glob

    from midigen_tf.data.files import require_files
    from midigen_tf.data.notes import get_notes

    original = sorted(glob.glob(str(glob_corpus / "*.mid")))
    assert [str(p) for p in require_files(glob_corpus, original=True)] == original
    assert [p.name for p in require_files(glob_corpus, original=True)] == ["a.mid", "b.mid"]
    everything = [p.relative_to(glob_corpus).as_posix() for p in require_files(glob_corpus)]
    assert everything == ["a.mid", "b.mid", "c.midi", "sub/extra.mid", "zz_extra.MID"]

    def read(report):  # parsed or skipped (parts[0] may be empty): every file looked at
        return sorted(p.name for p in [*report.parsed, *(p for p, _ in report.skipped)])

    _, faithful = get_notes(glob_corpus, "faithful", jobs=1, progress=False)
    assert read(faithful) == ["a.mid", "b.mid"]
    _, default = get_notes(glob_corpus, "all", jobs=1, progress=False)
    assert read(default) == ["a.mid", "b.mid", "c.midi", "extra.mid", "zz_extra.MID"]
    assert len(default.parsed) == 5


def test_faithful_mode_without_top_level_mid_is_a_clear_error(tmp_path):
    from midigen_tf.data.notes import get_notes

    write_notes(melody_notes(12), tmp_path / "songs" / "sub" / "only.mid")
    with pytest.raises(MidigenError, match=r"top-level \*\.mid"):
        get_notes(tmp_path / "songs", "faithful", jobs=1, progress=False)


# -- 7. legacy weights of another classic preset: the message names it -----------------------

def test_legacy_weights_of_lstm_512_name_the_preset(tmp_path):
    from midigen_tf import registry
    from midigen_tf.checkpoints import save_hdf5
    from midigen_tf.data.notes import save_notes_pickle
    from midigen_tf.loading import load_for_generation

    notes = ["C4", "E4", "G4", "4.7.11", "D4", "C4", "E4"]
    save_notes_pickle(notes, tmp_path / "notes")
    config = registry.make_config("lstm-512", {})
    config["n_vocab"] = len(set(notes))
    save_hdf5(registry.build_model(config), tmp_path / "weights.hdf5")

    with pytest.raises(MidigenError) as err:
        load_for_generation(tmp_path / "weights.hdf5", tmp_path / "notes", preset="lstm")
    assert "--model lstm-512" in err.value.hint
    assert "'lstm-512' preset" in err.value.message

    model, bundle, _ = load_for_generation(tmp_path / "weights.hdf5", tmp_path / "notes",
                                           preset="lstm-512")
    assert bundle.config["preset"] == "lstm-512" and model.count_params() > 3_000_000


# -- 9. pictures ----------------------------------------------------------------------------

@pytest.mark.slow
def test_score_draws_the_tempo_note_and_every_page(tmp_path):
    from midigen_tf.io.render import midi_to_musicxml
    from midigen_tf.io.score import render_svgs, write_pngs

    write_notes(melody_notes(900, seed=2), tmp_path / "long.mid")
    xml = midi_to_musicxml(tmp_path / "long.mid", tmp_path / "long.musicxml")
    svgs, total = render_svgs(xml, pages=1)
    assert total >= 2 and len(svgs) == 1
    svg = svgs[0]
    tempo = svg[svg.index('class="tempo"'):]
    tempo = tempo[:tempo.index("</text>") + 200]
    assert "\xa0=\xa0" in tempo and ">120<" in tempo  # the tempo mark is there ...
    assert "\ueca5" not in svg  # ... its note not as a character of a font cairo lacks
    assert '<tspan font-family="Leipzig" font-size="720px" />' in tempo
    glyph = tempo.split('class="textGlyph"')[1]
    assert glyph.startswith(' transform="translate(') and "<path" in glyph

    written, count = write_pngs(xml, tmp_path / "long.score.png")
    assert count == total
    assert [p.name for p in written] == ["long.score.png"] + [f"long.score-{k}.png"
                                                              for k in range(2, total + 1)]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_render_pages_option_says_how_many_pages(tmp_path):
    from click.testing import CliRunner

    from midigen_tf.cli import main

    write_notes(melody_notes(900, seed=2), tmp_path / "long.mid")
    result = CliRunner().invoke(main, ["render", str(tmp_path / "long.mid"), "--score",
                                       str(tmp_path / "s.png"), "--pages", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote 1 of 3 score page(s)" in result.output
    assert not (tmp_path / "s-2.png").exists()


def test_piano_roll_labels_a_narrow_range():
    from midigen_tf.io.images import pitch_ticks

    assert pitch_ticks(60, 69) == list(range(60, 70))  # D4..G4 played, one C in range
    assert pitch_ticks(61, 71) == list(range(61, 72))  # no C at all
    wide = pitch_ticks(62, 83)  # 22 pitches, one C
    assert 6 <= len(wide) <= 9 and wide[0] == 62 and wide[-1] >= 80
    assert pitch_ticks(40, 90) == [48, 60, 72, 84]


@pytest.mark.parametrize("history, title", [
    ({"loss": [3.2]}, "lstm: training loss"),
    ({"loss": [3.2, 3.0], "val_loss": [3.3, 3.1]}, "lstm: training and validation loss"),
])
def test_loss_plot_integer_epochs_and_honest_title(history, title, tmp_path):
    from midigen_tf.io.plots import loss_figure, plot_losses

    fig = loss_figure(history, subject="lstm")
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert 1 in ticks
    assert ax.get_title() == title
    assert plot_losses(history, tmp_path / "loss.png", subject="lstm").stat().st_size > 0


# -- 11. a quiet console ----------------------------------------------------------------------

def test_captured_stderr_keeps_real_errors(capfd):
    from midigen_tf.console import captured_stderr_fd

    with captured_stderr_fd():
        os.write(2, b"I0000 00:00:1 port.cc:153] oneDNN custom operations are on.\n"
                    b"WARNING: All log messages before absl::InitializeLog() is called\n"
                    b"a real problem\n")
    err = capfd.readouterr().err
    assert err == "a real problem\n"


def _run(args, cwd=ROOT, umask=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def _no_chatter(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if line.startswith(CHATTER)]
    assert not noisy, stderr


@pytest.mark.parametrize("args", [["predict.py", "--help"], ["-m", "midigen_tf.cli", "models"]])
@pytest.mark.slow
def test_commands_print_no_tensorflow_chatter(args):
    result = _run(args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    _no_chatter(result.stderr)
    assert result.stderr == ""


@pytest.fixture(scope="module")
def logged_training(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiet")
    for i in range(3):
        write_notes(melody_notes(40, seed=i), root / "songs" / f"good{i}.mid")
    result = _run(["lstm.py", "--data", root / "songs", "--epochs", 2, "--weights-dir",
                   root / "weights", "--cache-dir", root / "cache", "--seed", 1, *TINY],
                  umask=0o027)
    return root, result


@pytest.mark.slow
def test_training_log_is_quiet_and_one_line_per_epoch(logged_training):
    _, result = logged_training
    assert result.returncode == 0, result.stderr
    _no_chatter(result.stderr)
    assert "shuffle=True" not in result.stderr
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    epoch_lines = [line for line in result.stdout.splitlines() if "loss:" in line]
    assert len(epoch_lines) == 2, result.stdout


@pytest.mark.slow  # trains in a subprocess
def test_training_files_follow_the_umask(logged_training):
    root, result = logged_training
    assert result.returncode == 0, result.stderr
    weights = root / "weights"
    for name in ("weights.hdf5", "weights.json", "history.json", "history.csv", "last.keras",
                 "loss.png"):
        assert mode(weights / name) == 0o640, name


@pytest.mark.slow
def test_failing_run_prints_its_error_without_chatter(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(["lstm.py", "--data", tmp_path / "empty", "--epochs", 1])
    assert result.returncode == 1
    assert "no .mid/.midi files" in result.stderr
    _no_chatter(result.stderr)
    assert "Traceback" not in result.stderr
