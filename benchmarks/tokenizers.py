"""Cold parsing of the default corpus: symusic (the MidiTok pipelines) against music21 (classic).

Every file is read once per reader, in one process, with no cache, after the readers are
imported (import time is not counted). Rows: music21 making the classic note/chord tokens
(``data.notes.parse_midi_tokens``), music21's parse alone, symusic reading the file into one
piano track (``data.tokens.read_score``), and symusic plus REMI tokenization
(``data.tokens.tokenize_file``, what ``lstm-remi`` does on a cache miss).

    python -m benchmarks.tokenizers [--data DIR] [--files N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = Path(tempfile.gettempdir()) / "midigen-default-corpus"


def corpus_files(data: str | None, files: int | None, echo) -> list[Path]:
    """The MIDI files of ``data``, or of the default corpus (built once, not timed)."""
    from midigen_tf.data.corpus import build_default_corpus
    from midigen_tf.data.files import find_files

    if data:
        paths = find_files(data)
    else:
        echo(f"  default corpus in {DEFAULT_CORPUS} (built once with midigen_tf.data.corpus) ...")
        paths = build_default_corpus(DEFAULT_CORPUS, progress=False)
    return paths[:files] if files else paths


def _time(fn, paths) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = sum(len(fn(p)) for p in paths)
    return time.perf_counter() - t0, count


def parsing(data: str | None, files: int | None, echo) -> dict:
    """Seconds to read ``paths`` cold with each reader; speed-ups against music21."""
    import music21  # noqa: F401  imported before timing, like symusic and miditok below

    from midigen_tf.data import tokens as tl
    from midigen_tf.data.notes import parse_midi_tokens

    paths = corpus_files(data, files, echo)
    tok = tl.make_tokenizer({"tokenizer": "remi"})
    params = json.dumps(tl.tokenizer_to_json(tok))
    tl.tokenize_file(paths[0], params)  # builds the per-process tokenizer (not timed)

    def music21_parse(p):
        from music21 import converter

        return converter.parse(str(p), format="midi", forceSource=True, storePickle=False).flatten().notes

    readers = {
        "music21, classic tokens": parse_midi_tokens,
        "music21, parse only": music21_parse,
        "symusic, read (one piano track)": lambda p: tl.read_score(p).tracks[0].notes,
        "symusic + MidiTok REMI tokens": lambda p: tl.tokenize_file(p, params),
    }
    rows = {}
    for label, fn in readers.items():
        echo(f"  {label}: {len(paths)} files ...")
        seconds, count = _time(fn, paths)
        rows[label] = dict(seconds=seconds, files_per_s=len(paths) / seconds, items=count)
    base = rows["music21, classic tokens"]["seconds"]
    for row in rows.values():
        row["x_music21"] = base / row["seconds"]
    return dict(rows=rows, files=len(paths), corpus=str(data or DEFAULT_CORPUS))


def report(result: dict, echo, table) -> None:
    table(f"Cold parsing of {result['files']} files of {result['corpus']} (one process, no cache)",
          ["reader", "seconds", "files/s", "x music21 tokens", "items"],
          [[name, r["seconds"], r["files_per_s"], r["x_music21"], f"{r['items']:,}"]
           for name, r in result["rows"].items()], echo)


def main(argv=None) -> int:
    from benchmarks.run import table

    ap = argparse.ArgumentParser(prog="python -m benchmarks.tokenizers", description=__doc__)
    ap.add_argument("--data", default=None, help="MIDI folder (default: the default corpus)")
    ap.add_argument("--files", type=int, default=None, help="only the first N files")
    args = ap.parse_args(argv)
    echo = lambda *a: print(*a, flush=True)  # noqa: E731
    report(parsing(args.data, args.files, echo), echo, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
