"""Listen to and look at any MIDI file: WAV, piano-roll PNG, MusicXML and an engraved score PNG.

Audio comes from FluidSynth with a General MIDI soundfont (Debian ``fluidsynth`` and
``fluid-soundfont-gm``) when both are installed; otherwise from the numpy sine synthesiser of
``io/audio.py`` (the maestro report's sound, mixed at the notes' real times). Every result says
which engine made it. Pictures reuse ``io/images.py`` (piano roll) and ``io/score.py`` (verovio).

    from midigen_tf.io.render import render_wav, render_all
    render_wav("song.mid", "song.wav").describe()   # 'FluidSynth with FluidR3_GM.sf2'
    render_all("song.mid")                          # song.wav, song.png, song.musicxml, song.score.png
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from midigen_tf.errors import MidigenError, reading, require_path
from midigen_tf.io import atomic

SOUNDFONT_ENV = "MIDIGEN_SOUNDFONT"
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",  # Fedora, Arch
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
ENGINES = ("auto", "fluidsynth", "sine")
SAMPLE_RATE = 44100
GAIN = 0.5  # FluidSynth's default 0.2 is quiet; 0.5 keeps four-part chorales below clipping
KINDS = ("wav", "roll", "musicxml", "score")


@dataclass
class Rendered:
    """A WAV file and how it was made."""

    path: Path
    engine: str  # "fluidsynth" or "sine"
    soundfont: Path | None = None
    reason: str = ""  # why the sine fallback was used

    def describe(self) -> str:
        if self.engine == "fluidsynth":
            return f"FluidSynth with {self.soundfont.name if self.soundfont else 'a soundfont'}"
        return "numpy sine synthesiser" + (f" ({self.reason})" if self.reason else "")


@dataclass
class Artefacts:
    """Everything ``render_all`` wrote for one MIDI file, and what it could not write."""

    midi: Path
    files: dict[str, Path] = field(default_factory=dict)  # kind -> path
    audio: Rendered | None = None
    problems: dict[str, str] = field(default_factory=dict)  # kind -> why it is missing
    score_pages: list[Path] = field(default_factory=list)  # every page written (page 1 first)
    score_page_count: int = 0  # pages the engraved score has (more than written with pages=N)


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path | None:
    """``explicit``, else ``$MIDIGEN_SOUNDFONT``, else the first GM soundfont installed."""
    chosen = explicit or os.environ.get(SOUNDFONT_ENV)
    if chosen:
        return require_path(chosen, "soundfont",
                            "give an .sf2 file, or apt-get install fluid-soundfont-gm", file=True)
    return next((Path(p) for p in SOUNDFONT_PATHS if Path(p).is_file()), None)


def fluidsynth_setup(soundfont: str | os.PathLike | None = None) -> tuple[str | None, Path | None, str]:
    """``(fluidsynth executable, soundfont, reason it is unusable or '')``."""
    exe = shutil.which("fluidsynth")
    sf2 = find_soundfont(soundfont)
    if exe is None:
        return None, sf2, "FluidSynth not installed"
    if sf2 is None:
        return exe, None, "no General MIDI soundfont found"
    return exe, sf2, ""


def _midi_path(midi: str | os.PathLike) -> Path:
    path = require_path(midi, "MIDI file", "give the path of a .mid file", file=True)
    with open(path, "rb") as fh:  # a standard MIDI file, or one wrapped in RIFF (.rmi)
        head = fh.read(4)
    if head not in (b"MThd", b"RIFF"):
        raise MidigenError(f"{path} is not a MIDI file (it does not start with a MIDI header)",
                           hint="give a standard MIDI file (.mid / .midi), e.g. one that "
                           "predict.py wrote")
    return path


def _fluidsynth(exe: str, sf2: Path, midi: Path, wav: Path, sample_rate: int) -> None:
    with atomic.atomic_path(wav) as tmp:  # tmp keeps the .wav suffix FluidSynth looks at
        cmd = [exe, "-ni", "-q", "-g", str(GAIN), "-r", str(sample_rate), "-T", "wav",
               "-F", str(tmp), str(sf2), str(midi)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        detail = [line for line in (result.stderr + result.stdout).splitlines()
                  if "error" in line.lower() or "failed" in line.lower()]
        # FluidSynth exits 0 with a silent file when the soundfont does not load: look at stderr
        if result.returncode != 0 or tmp.stat().st_size <= 44 or detail:
            raise MidigenError(f"FluidSynth could not render {midi}: "
                               f"{detail[-1] if detail else f'exit code {result.returncode}'}",
                               hint="check the MIDI file, or use --engine sine")


def _sine(midi: Path, wav: Path, sample_rate: int) -> None:
    from midigen_tf.io import audio
    from midigen_tf.io.midi import read_notes

    with reading(f"cannot read {midi} as MIDI", hint="give a standard MIDI file (.mid / .midi)"):
        notes = read_notes(midi)
    audio.write_wav(wav, audio.render_notes(notes, sample_rate=sample_rate), sample_rate)


def render_wav(midi: str | os.PathLike, wav: str | os.PathLike | None = None, engine: str = "auto",
               soundfont: str | os.PathLike | None = None,
               sample_rate: int = SAMPLE_RATE) -> Rendered:
    """Render ``midi`` to ``wav`` (default: beside it). ``engine``: ``auto`` (FluidSynth when
    installed with a soundfont, else sines), ``fluidsynth`` (required) or ``sine``."""
    if engine not in ENGINES:
        raise MidigenError(f"unknown audio engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    midi = _midi_path(midi)
    wav = Path(wav) if wav else midi.with_suffix(".wav")
    reason = "--engine sine"
    if engine != "sine":
        exe, sf2, reason = fluidsynth_setup(soundfont)
        if not reason:
            try:
                _fluidsynth(exe, sf2, midi, wav, sample_rate)
            except OSError as err:
                raise MidigenError(f"cannot write {wav}: {err.strerror or err}",
                                   hint="choose a writable output path") from err
            return Rendered(wav, "fluidsynth", sf2)
        if engine == "fluidsynth":
            raise MidigenError(f"cannot render with FluidSynth: {reason}",
                               hint="apt-get install fluidsynth fluid-soundfont-gm, set "
                                    f"${SOUNDFONT_ENV}, or use --engine sine")
    _sine(midi, wav, sample_rate)
    return Rendered(wav, "sine", reason=reason)


def midi_to_musicxml(midi: str | os.PathLike, path: str | os.PathLike) -> Path:
    """MusicXML of a MIDI file (music21 quantises it to notation)."""
    from music21 import converter

    from midigen_tf.io.score import write_musicxml

    midi = _midi_path(midi)
    with reading(f"music21 cannot read {midi}", hint="give a standard MIDI file (.mid / .midi)"):
        score = converter.parse(str(midi), format="midi", forceSource=True, storePickle=False)
    from music21 import metadata

    score.metadata = score.metadata or metadata.Metadata()
    score.metadata.title = midi.stem  # not music21's "Music21 Fragment"
    return write_musicxml(score, path)


def default_paths(midi: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """``song.wav``, ``song.png`` (roll), ``song.musicxml``, ``song.score.png`` beside the MIDI
    (or in ``out_dir``)."""
    midi = Path(midi)
    folder, stem = (Path(out_dir) if out_dir else midi.parent), midi.stem
    return {"wav": folder / f"{stem}.wav", "roll": folder / f"{stem}.png",
            "musicxml": folder / f"{stem}.musicxml", "score": folder / f"{stem}.score.png"}


def render_all(midi: str | os.PathLike, paths: dict[str, Path] | None = None,
               kinds: tuple[str, ...] = KINDS, engine: str = "auto",
               soundfont: str | os.PathLike | None = None, pages: int | None = None) -> Artefacts:
    """Write the ``kinds`` asked for (``wav``, ``roll``, ``musicxml``, ``score``) of one MIDI file.

    The score gets every page (``song.score.png``, ``song.score-2.png``, ...) or the first
    ``pages``.

    Audio and the roll must succeed; the engraved score is best effort (verovio or cairosvg may
    be missing, or a piece may not engrave) and a failure is recorded in ``problems``.
    """
    from midigen_tf.io.images import piano_roll_image

    midi = _midi_path(midi)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise MidigenError(f"unknown output kind(s) {sorted(unknown)}", hint=f"use {', '.join(KINDS)}")
    paths = {**default_paths(midi), **(paths or {})}
    out = Artefacts(midi)
    if "wav" in kinds:
        out.audio = render_wav(midi, paths["wav"], engine, soundfont)
        out.files["wav"] = out.audio.path
    if "roll" in kinds:
        out.files["roll"] = piano_roll_image(midi, paths["roll"], title=midi.name)
    if "musicxml" in kinds or "score" in kinds:
        try:
            xml = midi_to_musicxml(midi, paths["musicxml"])
            out.files["musicxml"] = xml
            if "score" in kinds:
                from midigen_tf.io.score import write_pngs

                out.score_pages, out.score_page_count = write_pngs(xml, paths["score"], pages)
                out.files["score"] = out.score_pages[0]
        except Exception as err:  # notation is a bonus: keep the audio and roll
            out.problems["score" if "musicxml" in out.files else "musicxml"] = (
                str(err).splitlines()[0] if str(err) else type(err).__name__)
    return out
