"""Hostile inputs and user mistakes: every bad file is skipped with a reason, every mistake is
one clear message. The hostile corpus is written here, in code (mido for odd MIDI, raw bytes
for broken MIDI)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import struct
import sys
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf import registry
from midigen_tf.cli import main
from midigen_tf.data import parallel
from midigen_tf.data.cache import FileCache
from midigen_tf.data.notes import get_notes
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import read_notes
from midigen_tf.pipelines.base import DataSource

TINY = {"units": [8, 8], "dense_units": 8, "sequence_length": 8, "epochs": 1, "batch_size": 16}


def song(path: Path, pitches=range(60, 72), channel: int = 0, fmt: int = 1, tempo=None,
         length: int = 120, tracks: int = 1) -> Path:
    """A small MIDI file written with mido: one note after another on ``channel``."""
    mid = mido.MidiFile(type=fmt, ticks_per_beat=480)
    for k in range(tracks):
        track = mido.MidiTrack()
        if tempo is not None:
            track.append(mido.MetaMessage("set_tempo", tempo=tempo))
        for p in pitches:
            track.append(mido.Message("note_on", note=p + k, velocity=80, channel=channel, time=0))
            track.append(mido.Message("note_off", note=p + k, velocity=0, channel=channel, time=length))
        mid.tracks.append(track)
    mid.save(path)
    return path


# name -> what must happen with the classic (music21) parser: "parsed" or a reason fragment
HOSTILE = {
    "empty.mid": "empty file",
    "random_bytes.mid": "not a MIDI file",
    "truncated.mid": "truncated",
    "header_only.mid": "without track data",
    "chunk_length_lie.mid": "truncated or corrupt",
    "drums_only.mid": "no pitched notes",
    "meta_only.mid": "no pitched notes",
    "format2.mid": "format 2",
    "zero_length_notes.mid": "parsed",
    "tempo_1us.mid": "parsed",
    "tempo_16s.mid": "parsed",
    "Für Elise – ñ 日本.mid": "parsed",
    "good.mid": "parsed",
}


def write_hostile_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = song(folder / "good.mid", pitches=range(50, 90)).read_bytes()
    (folder / "empty.mid").write_bytes(b"")
    (folder / "random_bytes.mid").write_bytes(random.Random(0).randbytes(3000))
    (folder / "truncated.mid").write_bytes(raw[: len(raw) // 2])
    (folder / "header_only.mid").write_bytes(raw[:14])
    lie = bytearray(raw)
    lie[18:22] = struct.pack(">I", 0x7FFFFFFF)  # the track chunk claims 2 GB
    (folder / "chunk_length_lie.mid").write_bytes(bytes(lie))
    song(folder / "drums_only.mid", channel=9)
    meta = mido.MidiFile(type=1)
    meta.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="meta only"), mido.MetaMessage("set_tempo", tempo=500000),
        mido.MetaMessage("time_signature", numerator=3, denominator=4),
        mido.MetaMessage("end_of_track", time=960)]))
    meta.save(folder / "meta_only.mid")
    song(folder / "format2.mid", fmt=2, tracks=2)
    song(folder / "zero_length_notes.mid", length=0)
    song(folder / "tempo_1us.mid", tempo=1, pitches=range(40, 80))
    song(folder / "tempo_16s.mid", tempo=0xFFFFFF, pitches=range(45, 85))
    song(folder / "Für Elise – ñ 日本.mid", pitches=range(55, 95))
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile") / "songs")


def test_every_bad_file_is_skipped_with_its_reason(hostile):
    notes, report = get_notes(hostile, cache_dir=None, jobs=1, progress=False)
    skipped = {p.name: reason for p, reason in report.skipped}
    parsed = {p.name for p in report.parsed}
    for name, expected in HOSTILE.items():
        if expected == "parsed":
            assert name in parsed, f"{name}: {skipped.get(name)}"
        else:
            assert expected in skipped.get(name, ""), f"{name}: {skipped.get(name)!r}"
    assert len(notes) > 100
    text = "\n".join(report.lines("tokens"))
    assert f"skipped: {len(skipped)}" in text and "truncated or corrupt" in text


def test_worker_processes_give_the_same_report(hostile):
    one = get_notes(hostile, cache_dir=None, jobs=1, progress=False)[1]
    two = get_notes(hostile, cache_dir=None, jobs=2, progress=False)[1]
    assert one.skipped == two.skipped and one.parsed == two.parsed


def test_pretty_midi_reader_skips_the_same_broken_files(hostile):
    report = parallel.parse_files(sorted(hostile.iterdir()), read_notes, FileCache(None, "t", {}),
                                  jobs=1, progress=False)
    skipped = {p.name for p, _ in report.skipped}
    assert {"empty.mid", "random_bytes.mid", "truncated.mid", "chunk_length_lie.mid"} <= skipped
    assert len(report.parsed[hostile / "Für Elise – ñ 日本.mid"]) == 40


def test_a_parse_past_the_time_limit_is_skipped(tmp_path):
    # A real music21 parse that never finishes (the same file parsed again and again), so the
    # limit is passed on any machine, however fast: the alarm must cut real parsing work short.
    # (A single big file was parsed within the limit on a fast machine: a test of speed.)
    big = song(tmp_path / "big.mid", pitches=[40 + i % 40 for i in range(400)], length=240)
    report = parallel.parse_files([big], _parse_tokens_forever, FileCache(None, "t", {}), jobs=1,
                                  progress=False, timeout=0.5)
    assert report.parsed == {} and len(report.skipped) == 1
    assert "time limit" in report.skipped[0][1]  # the alarm cut it short


def _parse_tokens_forever(path):
    while True:
        _parse_tokens(path)


def _parse_tokens(path):
    from midigen_tf.data.notes import parse_midi_tokens

    return parse_midi_tokens(path)


def _hang_in_python(path):
    while True:
        time.sleep(0.05)


def _hang_in_c(path):  # SIGALRM blocked: only the watchdog can stop this one
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)


def _crash(path):
    os.kill(os.getpid(), signal.SIGKILL)


def _ok(path):
    return [Path(path).name]


@pytest.mark.slow
def test_hanging_and_crashing_parsers_are_skipped_and_the_rest_parsed(tmp_path):
    files = []
    for name in ("a_ok", "b_hang", "c_chang", "d_crash", "e_ok"):
        files.append(song(tmp_path / f"{name}.mid"))
    # each file gets its own behaviour through a dispatching parser
    report = parallel.parse_files(files, _by_name, FileCache(None, "t", {}), jobs=2,
                                  progress=False, timeout=0.5)
    reasons = dict((p.name, r) for p, r in report.skipped)
    assert sorted(p.name for p in report.parsed) == ["a_ok.mid", "e_ok.mid"]
    assert "time limit" in reasons["b_hang.mid"]
    assert "killed after" in reasons["c_chang.mid"]
    assert "process died" in reasons["d_crash.mid"]


def _by_name(path):
    stem = Path(path).stem
    return {"b_hang": _hang_in_python, "c_chang": _hang_in_c, "d_crash": _crash}.get(stem, _ok)(path)


HELD = threading.Lock()  # held by the test while workers start: a forked child would copy it held


def _parse_under_lock(path):
    with HELD:
        return [Path(path).name]


def test_workers_do_not_inherit_a_lock_held_in_the_parent(tmp_path):
    """A worker forked from a process whose other threads hold locks (TensorFlow's, tqdm's) can
    wait forever on its copy of one; workers come from a fork server, with fresh locks."""
    files = [song(tmp_path / f"{i}.mid") for i in range(3)]
    with HELD:
        report = parallel.parse_files(files, _parse_under_lock, FileCache(None, "t", {}), jobs=2,
                                      progress=False, timeout=1)
    assert report.skipped == [] and sorted(report.parsed) == files


def test_unreadable_file_is_skipped(tmp_path, monkeypatch):
    good, locked = song(tmp_path / "good.mid"), song(tmp_path / "locked.mid")
    real = parallel.file_digest

    def digest(path):
        if Path(path).name == "locked.mid":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(parallel, "file_digest", digest)
    report = parallel.parse_files([good, locked], _ok, FileCache(None, "t", {}), jobs=1, progress=False)
    assert report.skipped == [(locked, "cannot read file: Permission denied")]


def _without_file_override() -> None:
    """Give up, in the calling thread only, the right to open files whatever their mode bits
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): Linux keeps capabilities per thread, so the test
    process and its other threads keep theirs. An unprivileged user has nothing to give up."""
    if not sys.platform.startswith("linux"):
        assert os.geteuid() != 0, "root outside Linux: no way to give up its file rights"
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Sets(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]

    libc = ctypes.CDLL(None, use_errno=True)
    header, sets = Header(0x20080522, 0), (Sets * 2)()  # _LINUX_CAPABILITY_VERSION_3, this thread
    assert libc.capget(ctypes.byref(header), sets) == 0, os.strerror(ctypes.get_errno())
    sets[0].effective &= ~(1 << 1 | 1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    assert libc.capset(ctypes.byref(header), sets) == 0, os.strerror(ctypes.get_errno())


def test_unreadable_file_by_permissions(tmp_path):
    """A file its reader may not open (mode 000) is skipped with the reason the OS gives, through
    the real open() (the test above stands in for it). Root may open any file, so the reader runs
    in a thread that gave that right up: same user, same interpreter, wherever the venv lives;
    a readable file beside it shows the reader works."""
    good, locked = song(tmp_path / "good.mid"), song(tmp_path / "locked.mid")
    locked.chmod(0)
    outcome: dict = {}

    def read() -> None:
        try:
            _without_file_override()
            outcome["report"] = parallel.parse_files([good, locked], _ok, FileCache(None, "t", {}),
                                                     jobs=1, progress=False)
        except BaseException as err:  # shown by the assertion below
            outcome["error"] = err

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    assert "error" not in outcome, repr(outcome.get("error"))
    report = outcome["report"]
    assert list(report.parsed) == [good]
    assert report.skipped == [(locked, "cannot read file: Permission denied")]


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(hostile, tmp_path_factory):
    """A tiny classic model trained on the hostile corpus (the good files)."""
    from midigen_tf.train import train

    weights = tmp_path_factory.mktemp("w")
    config = {**registry.make_config("lstm", TINY), "seed": 3}
    lines = []
    result = train(config, _source(hostile), weights, verbose=0, echo=lines.append)
    return weights, result, "\n".join(lines)


def _source(folder: Path) -> DataSource:
    return DataSource(data_dir=folder, cache_dir=None, jobs=1, seed=3, options={"progress": False})


def test_good_files_of_a_hostile_corpus_train(trained):
    weights, result, log = trained
    assert (weights / "weights.hdf5").exists() and (weights / "last.keras").exists()
    assert "skipped" in log and "format 2" in log and "empty file" in log
    assert np.isfinite(result.history[0]["loss"])


@pytest.mark.slow
def test_seed_makes_training_and_generation_repeatable(trained, hostile, tmp_path):
    from midigen_tf.train import train

    weights, first, _ = trained
    config = {**registry.make_config("lstm", TINY), "seed": 3}
    again = train(config, _source(hostile), tmp_path / "w2", verbose=0, echo=lambda *a: None)
    assert again.history[0]["loss"] == first.history[0]["loss"]
    for a, b in zip(first.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    outs = []
    for i in range(2):
        out = tmp_path / f"g{i}.mid"
        r = CliRunner().invoke(main, ["generate", str(weights / "weights.hdf5"), "-n", "12", "-o",
                                      str(out), "--seed", "5", "--temperature", "1.5"])
        assert r.exit_code == 0, r.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_corpus_without_usable_notes_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mid").write_bytes(b"")
    song(bad / "drums.mid", channel=9)
    r = CliRunner().invoke(main, ["train", "--data", str(bad), "--no-cache", "--jobs", "1",
                                  "--weights-dir", str(tmp_path / "w")])
    assert r.exit_code == 1
    assert "no usable notes" in r.output and "(2 skipped)" in r.output
    assert "Traceback" not in r.output


# ----------------------------------------------------------------------------- user mistakes


def _generate(*args):
    return CliRunner().invoke(main, ["generate", *map(str, args)])


@pytest.mark.parametrize("n", ["0", "-3"])
def test_non_positive_length_is_refused(trained, n, tmp_path):
    r = _generate(trained[0] / "weights.hdf5", "-n", n, "-o", tmp_path / "x.mid")
    assert r.exit_code == 1 and "at least 1" in r.output


def test_missing_weights_file(tmp_path):
    r = _generate(tmp_path / "nope.hdf5")
    assert r.exit_code == 1 and "does not exist" in r.output and "fix:" in r.output


def test_wrong_weights_file(trained, tmp_path):
    import shutil

    fake = tmp_path / "weights.hdf5"
    fake.write_bytes(random.Random(1).randbytes(500))
    shutil.copy(trained[0] / "weights.json", tmp_path / "weights.json")
    r = _generate(fake, "-n", "5", "-o", tmp_path / "x.mid")
    assert r.exit_code == 1 and "not a readable HDF5" in r.output and "Traceback" not in r.output


def test_bundle_of_another_model_family(trained, tmp_path):
    import json
    import shutil

    shutil.copy(trained[0] / "weights.hdf5", tmp_path / "weights.hdf5")
    bundle = json.loads((trained[0] / "weights.json").read_text())
    bundle["config"] = {**bundle["config"], "units": [16, 16]}  # another model's settings
    (tmp_path / "weights.json").write_text(json.dumps(bundle))
    r = _generate(tmp_path / "weights.hdf5", "-n", "5", "-o", tmp_path / "x.mid")
    assert r.exit_code == 1 and "do not fit" in r.output and "fix:" in r.output


def test_unknown_family_in_bundle(trained, tmp_path):
    import json
    import shutil

    shutil.copy(trained[0] / "weights.hdf5", tmp_path / "weights.hdf5")
    bundle = json.loads((trained[0] / "weights.json").read_text())
    bundle["config"]["family"] = "transformer"
    (tmp_path / "weights.json").write_text(json.dumps(bundle))
    r = _generate(tmp_path / "weights.hdf5")
    assert r.exit_code == 1 and "unknown model family 'transformer'" in r.output


def test_unwritable_output_path(trained, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = _generate(trained[0] / "weights.hdf5", "-n", "5", "-o", blocker / "out.mid")
    assert r.exit_code == 1 and "cannot write" in r.output and "-o" in r.output


def test_empty_data_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "empty"), "--no-cache",
                                  "--weights-dir", str(tmp_path / "w")])
    assert r.exit_code == 1 and "no .mid/.midi files" in r.output


def test_multi_worker_without_tf_config(monkeypatch):
    from midigen_tf.distribute import make_placement

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(MidigenError, match="TF_CONFIG"):
        make_placement("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(MidigenError, match="not valid"):
        make_placement("multi-worker")
