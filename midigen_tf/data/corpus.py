"""The default corpus: built once into ``midi_songs/`` from scores shipped inside music21.

The reports' own corpora (39 or 92 MIDI files from midiworld) are not ours to ship, so the
default is deterministic and free: the first 80 Bach chorales of the music21 corpus (sorted by
path) plus 12 keyboard pieces, 92 files in all, each written as MIDI with a Piano instrument on
every part (parts without an instrument are what makes ``parts[0]`` come back empty).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from midigen_tf.data.files import find_files
from midigen_tf.data.parallel import worker_context
from midigen_tf.errors import MidigenError

DEFAULT_DATA = "midi_songs"  # the --data default: the report's folder, filled when empty
N_CHORALES = 80
KEYBOARD_PIECES = (
    "beach/prayer_of_a_tired_child.musicxml",
    "cpebach/h186.mxl",
    "handel/rinaldo/Lascia_chio_pianga.mxl",
    "joplin/maple_leaf_rag.mxl",
    "mozart/k545/movement1_exposition.mxl",
    "schoenberg/opus19/movement2.mxl",
    "schoenberg/opus19/movement6.mxl",
    "schumann_clara/polonaise_op1n1.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl",
    "schumann_clara/polonaise_op1n4.mxl",
    "schubert/Lindenbaum.xml",
)


def default_sources() -> list[str]:
    """Corpus-relative paths of the default pieces, in a fixed order."""
    from music21 import corpus

    rel = sorted(str(p).split("corpus" + os.sep, 1)[1] for p in corpus.getComposer("bach"))
    chorales = [p for p in rel if os.path.basename(p).startswith("bwv")][:N_CHORALES]
    return chorales + list(KEYBOARD_PIECES)


def _target_name(source: str) -> str:
    stem = os.path.splitext(source)[0].replace(os.sep, "_").replace("/", "_")
    return f"{stem}.mid"


def write_piano_midi(source: str, target: str) -> str:
    """Parse one corpus score and write it as MIDI with a Piano on every part."""
    from music21 import corpus, instrument

    score = corpus.parse(source)
    for part in score.parts:
        for old in list(part.recurse().getElementsByClass(instrument.Instrument)):
            old.activeSite.remove(old)
        part.insert(0, instrument.Piano())
    from midigen_tf.io.midi import write_stream

    write_stream(score, target)
    return target


def _silent(message: str) -> None:
    pass


def build_default_corpus(target_dir: str | os.PathLike, jobs: int = 0, progress: bool = True,
                         echo=_silent) -> list[Path]:
    """Write the default corpus into ``target_dir`` (skipping files already there); a piece
    that fails is reported through ``echo`` and left out."""
    from tqdm.auto import tqdm

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    todo = [(s, target_dir / _target_name(s)) for s in default_sources()]
    todo = [(s, t) for s, t in todo if not t.exists()]
    if todo:
        with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 1,
                                 mp_context=worker_context()) as pool, \
                tqdm(total=len(todo), desc="building default corpus", unit="file",
                     disable=None if progress else True) as bar:
            futures = [pool.submit(write_piano_midi, s, str(t)) for s, t in todo]
            for (source, _), fut in zip(todo, futures):
                try:
                    fut.result()
                except Exception as err:  # a corpus file that fails is reported, not fatal
                    echo(f"default corpus: skipped {source}: {type(err).__name__}: {err}")
                bar.update(1)
    return find_files(target_dir)


def ensure_corpus(data_dir: str | os.PathLike, default_dir: str | os.PathLike = DEFAULT_DATA,
                  progress: bool = True, echo=_silent) -> Path:
    """``data_dir`` itself if it holds MIDI; the default corpus is built when it is the
    (empty) default folder; any other empty folder is an error."""
    data_dir = Path(data_dir)
    if data_dir.is_dir() and find_files(data_dir):
        return data_dir
    if data_dir.resolve() == Path(default_dir).resolve():
        echo(f"{data_dir}/ holds no MIDI: building the default corpus there (once)")
        if not build_default_corpus(data_dir, progress=progress, echo=echo):
            raise MidigenError("could not build the default corpus",
                               hint="check that music21 is installed with its corpus")
        return data_dir
    if not data_dir.exists():
        raise MidigenError(f"data folder {data_dir} does not exist",
                           hint="give a folder of .mid/.midi files with --data DIR")
    raise MidigenError(f"no .mid/.midi files in {data_dir}",
                       hint="put MIDI files there, or omit --data to use midi_songs/")
