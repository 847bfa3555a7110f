"""The folk-melody pipeline (seed 001): ESAC tunes -> time-step symbols -> windows -> melodies.

``prepare`` reads the tunes (cached, in parallel), filters them by duration, splits them by
song into train / validation (windows overlap, so a window-level split would leak), transposes
(after the split, so a song's transpositions stay on one side), encodes and builds one-hot
windows per batch. ``generate`` continues a seed melody (or starts after a song delimiter)
until ``/`` or ``-n`` steps and writes MIDI, MusicXML and PNG.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from midigen_tf.data import folk
from midigen_tf.data.cache import FileCache
from midigen_tf.data.parallel import parse_files
from midigen_tf.data.batches import window_dataset
from midigen_tf.errors import MidigenError
from midigen_tf.generate import one_hot_encoding
from midigen_tf.io import atomic
from midigen_tf.io.midi import MidiStyle, write_stream
from midigen_tf.pipelines.base import DataSource, GenerateOptions, Pipeline, Prepared
from midigen_tf.sampling import Pick

TRAIN_IDS = "folk_train_ids"
PARSER_VERSION = 1
DEFAULT_DATA = "esac"  # the --data default for folk models: the German ESAC tunes in music21


def one_hot(n_vocab: int):
    eye = np.eye(n_vocab, dtype=np.float32)
    return lambda ids: eye[ids]


def window_batches(ids: np.ndarray, seq_len: int, batch_size: int, n_vocab: int,
                   autoencode: bool = False, shuffle: bool = True, seed: int = 0, samples: int = 0):
    """One-hot windows of ``seq_len`` symbols and the next symbol's id (or, with ``autoencode``,
    the window itself, for the VAE), through the one batcher."""
    encode = one_hot_encoding(n_vocab)

    def make_batch(window):
        x = encode(window[:, :-1])
        return (x, x) if autoencode else (x, window[:, -1])

    return window_dataset(ids, np.arange(len(ids) - seq_len), np.arange(seq_len + 1), batch_size,
                          make_batch, shuffle=shuffle, seed=seed, samples=samples)


def load_tunes(source: DataSource, max_songs: int = 0) -> tuple[list[folk.Tune], list[str]]:
    """The tunes of ``source.data_dir`` (the first ``max_songs`` if > 0) and file-level skips."""
    files = folk.resolve_source(str(source.data_dir))
    if max_songs > 0:  # parse only the files (and tunes) needed
        chosen, total = [], 0
        for f in files:
            chosen.append(f)
            total += folk.count_tunes(f)
            if total >= max_songs:
                break
        files = chosen
    cache = FileCache(source.cache_dir, "folk", {"parser": PARSER_VERSION, "limit": max_songs})
    report = parse_files(files, partial(folk.parse_file, limit=max_songs), cache, jobs=source.jobs,
                         progress=source.options.get("progress", True), desc="parsing tunes")
    tunes = [t for parsed in report.parsed.values() for t in parsed]
    if max_songs > 0:
        tunes = tunes[:max_songs]
    skipped = [f"  skipped file {p}: {why}" for p, why in report.skipped]
    return tunes, [f"files: {len(files)} ({report.cache_hits} from cache)", *skipped]


def split_songs(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Song indices for training and validation: a seeded random ``fraction`` held out."""
    n_val = int(round(n * fraction)) if fraction else 0
    if fraction and n_val == 0 and n > 1:
        n_val = 1
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def encode_songs(tunes: list[folk.Tune], config: dict) -> list[list[str]]:
    out = []
    for tune in tunes:
        for shift in folk.transpositions(tune, config["transpose"]):
            events = folk.shifted(tune.events, shift)
            if all(p < 128 for p, _ in events) and all(p >= -1 for p, _ in events):
                out.append(folk.encode(events, float(config["time_step"])))
    return out


def prepare(config: dict, source: DataSource, autoencode: bool = False) -> Prepared:
    """Next-symbol windows; with ``autoencode`` the windows are their own targets (the VAE)."""
    seq_len = int(config["sequence_length"])
    tunes, lines = load_tunes(source, int(config.get("max_songs") or 0))
    acceptable = tuple(float(d) for d in config["acceptable_durations"])
    reasons = [folk.filter_reason(t, acceptable) for t in tunes]
    kept = [t for t, r in zip(tunes, reasons) if not r]
    lines = [f"data: {str(source.data_dir)}", *lines, "songs per collection:",
             *folk.report_lines(tunes, reasons)]
    if not kept:
        raise MidigenError(f"no usable melody in {source.data_dir} ({len(tunes)} read)",
                           hint="see the reasons above; widen --set acceptable_durations=[...] "
                           "or give other files")
    train_i, val_i = split_songs(len(kept), source.validation_split, source.seed)
    train_songs = encode_songs([kept[i] for i in train_i], config)
    val_songs = encode_songs([kept[i] for i in val_i], config)
    train_sym = folk.corpus(train_songs, seq_len)
    val_sym = folk.corpus(val_songs, seq_len)
    mapping = folk.make_mapping(train_sym + val_sym)
    index = {s: i for i, s in enumerate(mapping)}
    train_ids = np.array([index[s] for s in train_sym], dtype=np.int32)
    val_ids = np.array([index[s] for s in val_sym], dtype=np.int32)
    config = {**config, "n_vocab": len(mapping)}

    batch, per_epoch = int(config["batch_size"]), int(config.get("windows_per_epoch") or 0)
    n_train, n_val = max(len(train_ids) - seq_len, 0), max(len(val_ids) - seq_len, 0)
    if not n_train:
        raise MidigenError(f"the training melodies give no window of {seq_len} symbols",
                           hint="use more songs, or a shorter --set sequence_length")
    make = partial(window_batches, seq_len=seq_len, batch_size=batch, n_vocab=len(mapping),
                   autoencode=autoencode)
    train = make(train_ids, shuffle=True, seed=source.seed, samples=min(per_epoch, n_train))
    val = make(val_ids, shuffle=False, samples=min(per_epoch, n_val)) if n_val else None
    lines.append(f"songs: {len(train_i)} train, {len(val_i)} validation (split by song); "
                 f"transpose={config['transpose']}: {len(train_songs)} + {len(val_songs)} "
                 f"encoded melodies")
    lines.append(f"symbols: {len(train_sym)} train, {len(val_sym)} validation; vocabulary: "
                 f"{len(mapping)}; windows of {seq_len}: {n_train} train"
                 f"{f', {n_val} validation' if val is not None else ''}"
                 f"{f'; {train.samples} per epoch' if per_epoch else ''}")
    extra = {"data": str(source.data_dir), "songs_read": len(tunes), "songs_kept": len(kept),
             "train_songs": len(train_i), "validation_songs": len(val_i)}
    return Prepared(train=train, val=val, config=config, vocab=mapping, extra=extra,
                    arrays={TRAIN_IDS: train_ids}, samples=train.samples, report="\n".join(lines))


def after_training(model, prepared: Prepared, weights_dir, history, echo) -> None:
    """``mapping.json`` (symbol -> id) beside the checkpoints, as the report's scripts."""
    mapping = {s: i for i, s in enumerate(prepared.vocab)}
    atomic.write_json(Path(weights_dir) / "mapping.json", mapping)


# ----------------------------------------------------------------------------- generation

def seed_symbols(options: GenerateOptions) -> list[str]:
    """The seed melody: ``-O seed="60 _ 62 _"``, or ``--primer`` (a MIDI or score file)."""
    text = options.extra.get("seed")
    if text is not None and options.primer is not None:
        raise MidigenError("give either --primer or -O seed=..., not both")
    if text is not None:
        return folk.parse_symbols(str(text))
    if options.primer is not None:
        tunes = folk.parse_file(Path(options.primer), limit=1)
        if not tunes or tunes[0].error or not tunes[0].events:
            why = tunes[0].error if tunes and tunes[0].error else "no notes"
            raise MidigenError(f"cannot read the primer {options.primer}: {why}",
                               hint="give a MIDI, MusicXML, ABC or kern melody")
        return folk.encode(tunes[0].events)
    return []


def _sampling(options: GenerateOptions, config: dict) -> dict:
    """Argmax with ``-O argmax=true``; else the CLI's options, else the preset's temperature."""
    if str(options.extra.get("argmax", "")).lower() in ("1", "true", "yes"):
        return {"temperature": None, "top_k": None, "top_p": None}
    if options.temperature is None and options.top_k is None and options.top_p is None:
        return {"temperature": float(config.get("temperature") or 1.0), "top_k": None, "top_p": None}
    return {"temperature": options.temperature, "top_k": options.top_k, "top_p": options.top_p}


def start_windows(bundle, options: GenerateOptions):
    """``(windows (K, L), seed symbols, symbol index, sampling options, rng)`` to generate from:
    the seed melody after ``L`` song delimiters, one window per output."""
    from midigen_tf.sampling import check_options

    config, mapping = bundle.config, list(bundle.vocab)
    seq_len = int(config["sequence_length"])
    index = {s: i for i, s in enumerate(mapping)}
    seed = seed_symbols(options)
    unknown = sorted({s for s in seed if s not in index})
    if unknown:
        raise MidigenError(f"the seed uses symbols the model never saw: {unknown[:8]}",
                           hint=f"pitches known to this model: {[s for s in mapping if s.isdigit()]}")
    sampling = _sampling(options, config)
    check_options(**sampling)  # the preset's own temperature (--set temperature=...)
    context = np.array([index[s] for s in [folk.DELIM] * seq_len + seed], dtype=np.int64)
    windows = np.repeat(context[None, -seq_len:], options.num_outputs, axis=0)
    return windows, seed, index, sampling, np.random.default_rng(options.seed)


def write_melodies(rows, prefix: list[str], bundle, options: GenerateOptions) -> list[Path]:
    """Each row of symbol ids (after ``prefix``) as MIDI, MusicXML and PNG."""
    mapping, step = list(bundle.vocab), float(bundle.config["time_step"])
    png = str(options.extra.get("png", "true")).lower() not in ("0", "false", "no")
    paths = []
    for row, path in zip(rows, options.output_paths()):
        melody = prefix + [mapping[i] for i in row]
        paths += write_melody(folk.decode(melody, step), Path(path), png=png, style=options.style)
    return paths


class MelodyPick(Pick):
    """The next-symbol ``pick``: softmax sampling (or argmax) where an unseeded melody starts
    with a pitch (not ``/``, ``_`` or ``r``: a melody of rests is no melody); a row stops at
    ``/`` and the loop ends when every row has (``finished``)."""

    def __init__(self, index: dict[str, int], rng, sampling: dict, seeded: bool, count: int):
        self.delim, self.rng, self.sampling = index[folk.DELIM], rng, sampling
        self.pitch_ids = np.array([i for s, i in index.items() if s.isdigit()])
        self.other_ids = np.array([i for s, i in index.items() if not s.isdigit()])
        self.started = np.full(count, seeded)
        self.done = np.zeros(count, dtype=bool)

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        from midigen_tf.sampling import choose

        probs = np.array(probs, dtype=np.float64)
        probs[np.ix_(~self.started, self.other_ids)] = 0.0
        nxt = choose(probs / probs.sum(axis=1, keepdims=True), self.rng, **self.sampling)
        nxt = np.where(self.done, self.delim, nxt)
        self.started |= np.isin(nxt, self.pitch_ids)
        self.done |= nxt == self.delim
        return nxt

    @property
    def finished(self) -> bool:
        return bool(self.done.all())


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    """Continue the seed melody (or start one) through the shared engine, until ``/`` or -n."""
    from midigen_tf.generate import Engine, generate_steps, one_hot_encoding

    windows, seed, index, sampling, rng = start_windows(bundle, options)
    engine = Engine(model, one_hot_encoding(len(index)), options.engine,
                    name=bundle.config.get("preset"), kernel=options.kernel)
    pick = MelodyPick(index, rng, sampling, bool(seed), len(windows))
    rows = generate_steps(engine, windows, options.n, pick, progress=True)
    rows = np.pad(rows, ((0, 0), (0, options.n - rows.shape[1])), constant_values=index[folk.DELIM])
    return write_melodies(rows, seed, bundle, options)


def write_melody(events, path: Path, png: bool = True,
                 style: MidiStyle | None = None) -> list[Path]:
    """``path`` (MIDI), ``path.musicxml`` and ``path.png`` of a melody; returns the files.
    ``style`` (--bpm, --program) is applied to the MIDI file."""
    from midigen_tf.io.score import write_score

    if not events:
        raise MidigenError("the model ended the melody before its first note",
                           hint="sample again (--seed), raise --temperature or give a seed melody")
    stream = folk.to_stream(events, title=path.stem)
    written = [write_stream(stream, path, style)]
    written += write_score(stream, path.with_suffix(""), png=png)
    return written


PIPELINE = Pipeline(name="folk", prepare=prepare, generate=generate, default_data=DEFAULT_DATA,
                    after_training=after_training)
