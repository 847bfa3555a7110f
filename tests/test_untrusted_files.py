"""Files from strangers are read as data, never run: a notes pickle (users download the original
scripts' ``data/notes`` with their weights), a shared parse cache's entries, a bundle's arrays.

Each crafted file carries a payload that creates a marker file when unpickled; the payload is
first shown to work with a plain ``pickle.loads``, then the marker must not appear."""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf.bundle import Bundle
from midigen_tf.cli import main
from midigen_tf.data import parallel
from midigen_tf.data.cache import FileCache, file_digest
from midigen_tf.data.folk import Tune
from midigen_tf.data.notes import load_notes_pickle, save_notes_pickle
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import note_table

TOKENS = ["E4", "4.9", "B-3", "E4", "11.2.6"]


class _System:  # os.system("touch MARKER") when unpickled
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class _Open:  # builtins.open(MARKER, "w") when unpickled
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


PAYLOADS = {"os.system": _System, "builtins.open": _Open}


@pytest.fixture(params=list(PAYLOADS))
def evil(request, tmp_path):
    """``(payload bytes, marker path, global named)``: a token list with the payload inside."""
    make = PAYLOADS[request.param]
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(make(proof)))  # the payload really runs when unpickled plainly
    assert proof.exists()
    marker = tmp_path / "marker"
    data = pickle.dumps([*TOKENS, make(marker)])
    return data, marker, request.param


# ----------------------------------------------------------------------------- notes pickle


def test_crafted_notes_pickle_is_refused_and_runs_nothing(evil, tmp_path):
    data, marker, name = evil
    path = tmp_path / "notes"
    path.write_bytes(data)
    with pytest.raises(MidigenError) as err:
        load_notes_pickle(path)
    text = str(err.value)
    assert str(path) in text and name.split(".")[1] in text
    assert "holds code / objects other than a list of token strings" in text
    assert "nothing in it was run" in text and "fix:" in text
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_plain_notes_pickle_still_loads(tmp_path, protocol):
    """As the original scripts wrote it: ``pickle.dump(notes, filepath)``, a list of str."""
    path = tmp_path / "notes"
    with open(path, "wb") as fh:
        pickle.dump(TOKENS, fh, protocol=protocol)
    assert load_notes_pickle(path) == TOKENS


def test_our_own_notes_pickle_loads(tmp_path):
    assert load_notes_pickle(save_notes_pickle(TOKENS, tmp_path / "data" / "notes")) == TOKENS


@pytest.mark.parametrize("content, reason", [
    (pickle.dumps({"E4": 1}), "does not hold a list of token strings"),
    (pickle.dumps([60, 62]), "does not hold a list of token strings"),
    (b"not a pickle", "is not a notes pickle"),
], ids=["dict", "ints", "garbage"])
def test_other_notes_files_are_one_clear_error(tmp_path, content, reason):
    path = tmp_path / "notes"
    path.write_bytes(content)
    with pytest.raises(MidigenError, match=reason) as err:
        load_notes_pickle(path)
    assert err.value.hint and "list of strings" in err.value.hint


def test_predict_with_a_crafted_notes_pickle_is_one_clear_error(evil, tmp_path):
    data, marker, _ = evil
    notes = tmp_path / "evil.pkl"
    notes.write_bytes(data)
    weights = tmp_path / "W.hdf5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n")  # the notes are read before the weights
    result = CliRunner().invoke(main, ["generate", str(weights), "--notes", str(notes),
                                       "-o", str(tmp_path / "out.mid")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    out = " ".join(result.output.split())
    assert f"Error: refused {notes}: it holds code / objects other than a list of token " \
           "strings" in out
    assert "fix: give the data/notes pickle the original lstm.py wrote" in out
    assert not marker.exists() and not (tmp_path / "out.mid").exists()


# ----------------------------------------------------------------------------- parse cache


def _parse_names(path):
    return [path.name]


def test_crafted_cache_entry_is_a_miss_and_runs_nothing(evil, tmp_path):
    """A shared cache folder (MIDIGEN_CACHE) holds a poisoned entry for a file: it is not
    unpickled into a call; the file is parsed again and the entry rewritten."""
    data, marker, _ = evil
    song = tmp_path / "song.mid"
    song.write_bytes(b"any bytes: the cache is keyed by content")
    cache = FileCache(tmp_path / "cache", "t", {})
    entry = cache._entry(file_digest(song))
    entry.parent.mkdir(parents=True)
    entry.write_bytes(data)
    assert cache.get(file_digest(song)) is None
    report = parallel.parse_files([song], _parse_names, cache, jobs=1, progress=False)
    assert report.parsed == {song: ["song.mid"]} and report.cache_hits == 0
    assert not marker.exists()
    assert cache.get(file_digest(song)) == ["song.mid"]  # rewritten: a hit next time


@pytest.mark.parametrize("value", [
    ["E4", "4.9"],
    np.arange(5, dtype=np.int32),
    np.zeros((3, 4), dtype=np.uint8)[:, 1],  # not contiguous
    note_table([60, 64], [80, 90], [0.0, 0.5], [0.5, 1.0]),  # a structured array
    {"notes": note_table([60], [80], [0.0], [1.0]), "beats": np.arange(3.0), "tokens": ["x"]},
    [Tune("kinder", "a tune", [(60, 1.0), (62, 0.5)], tonic=2, mode="minor")],
], ids=["tokens", "ids", "strided", "note-table", "evaluate", "folk"])
def test_what_the_parsers_cache_still_reads_back(tmp_path, value):
    cache = FileCache(tmp_path / "cache", "t", {})
    cache.put("digest", value)
    back = cache.get("digest")
    assert type(back) is type(value)
    assert pickle.dumps(back) == pickle.dumps(value)


# ----------------------------------------------------------------------------- bundle arrays


def test_bundle_array_with_objects_is_not_unpickled(evil, tmp_path):
    """``tokens.npy`` beside a downloaded checkpoint: np.load without allow_pickle."""
    _, marker, name = evil
    tokens = np.empty(1, dtype=object)
    tokens[0] = PAYLOADS[name](marker)
    np.save(tmp_path / "tokens.npy", tokens, allow_pickle=True)
    bundle = Bundle(config={}, path=tmp_path / "weights.json")
    with pytest.raises(MidigenError, match="holds Python objects, not a plain array"):
        bundle.array("tokens")
    assert not marker.exists()
