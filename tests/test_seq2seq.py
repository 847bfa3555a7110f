"""The seq2seq family (seed 002): pseudo-note encoding, encoder-decoder, inference, generation."""

from __future__ import annotations


import keras
import numpy as np
import pytest

from conftest import melody_notes
from midigen_tf import registry
from midigen_tf.bundle import Bundle, load_bundle, load_weights, save_bundle
from midigen_tf.data import pseudonotes as pn
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import note_table, read_notes, write_notes
from midigen_tf.models import seq2seq
from midigen_tf.pipelines import pseudonotes as pipeline
from midigen_tf.steppers import EncoderDecoderStepper
from midigen_tf.pipelines.base import DataSource, GenerateOptions

TINY = {"units": [12, 12], "input_length": 6, "output_length": 4, "window_stride": 1,
        "batch_size": 16, "epochs": 1}


def varied_notes(n: int = 60, seed: int = 0) -> np.ndarray:
    """Notes with continuous durations, velocities and gaps (plus chords)."""
    rng = np.random.default_rng(seed)
    start = np.repeat(np.cumsum(rng.choice([0.1, 0.25, 0.4, 0.7], n)), 2)[: n]
    dur = rng.uniform(0.05, 1.5, n)
    return note_table(rng.integers(40, 90, n), rng.integers(20, 127, n), start, start + dur)


def tiny_config(**overrides) -> dict:
    return registry.make_config("seq2seq-small", {**TINY, **overrides})


@pytest.fixture
def prepared(tiny_corpus, tmp_path):
    return pipeline.prepare(tiny_config(), DataSource(tiny_corpus, tmp_path / "cache",
                                                      validation_split=0.2, jobs=1))


# ---- encoding -------------------------------------------------------------------------------

def test_fit_bins_are_quantiles_and_never_empty():
    values = np.arange(1.0, 101.0)
    bins = pn.fit_bins(values, 4)
    assert len(bins) == 4
    assert np.bincount(bins.assign(values)).tolist() == [25, 25, 25, 25]
    assert all(bins.assign(v) == i for i, v in enumerate(bins.values))
    tied = pn.fit_bins([0.5] * 90 + [1.0] * 10 + [2.0] * 5, 4)  # quantised: ties share a bin
    assert tied.values == (0.5, 1.0, 2.0) and tied.assign([0.5, 1.0, 2.0]).tolist() == [0, 1, 2]
    skewed = pn.fit_bins([0.25] * 50 + [0.5, 0.75, 1.0, 1.5, 2.0, 3.0], 4)
    assert len(skewed) == 4 and skewed.values[0] == 0.25


@pytest.mark.parametrize("shift_bins", [4, 0])
def test_tokens_to_notes_and_back(shift_bins):
    tables = [varied_notes(80, seed=s) for s in range(3)]
    enc = pn.fit_encoding(tables, velocity_bins=5, duration_bins=4, shift_bins=shift_bins)
    assert (len(enc.velocity), len(enc.duration)) == (5, 4)
    assert (enc.shift is None) == (shift_bins == 0)
    parts = enc.encode(tables[0])
    notes = enc.decode(parts)
    assert np.array_equal(enc.encode(notes), parts)  # tokens -> notes -> the same tokens
    assert np.array_equal(notes["pitch"], tables[0]["pitch"])
    assert np.all(notes["end"] > notes["start"]) and np.all(np.diff(notes["start"]) >= 0)
    assert np.array_equal(pn.parse_names(pn.token_names(parts, enc), enc), parts)


def test_shift_bin_zero_keeps_chords_together(tmp_path):
    table = melody_notes(24, seed=4, chords=True)
    enc = pn.fit_encoding([table], shift_bins=3)
    notes = enc.decode(enc.encode(table))
    assert np.array_equal(np.unique(notes["start"], return_counts=True)[1],
                          np.unique(table["start"], return_counts=True)[1])
    played = read_notes(write_notes(notes, tmp_path / "back.mid"))  # a playable MIDI file
    assert np.array_equal(played["pitch"], notes["pitch"])
    assert len(np.unique(played["velocity"])) > 1


def test_playable_removes_stacked_and_overlapping_repeats_of_a_pitch():
    notes = note_table([60, 60, 60, 64, 60], [90] * 5, [0.0, 0.0, 0.5, 0.0, 2.0],
                       [1.0, 1.0, 1.5, 1.0, 2.5])
    out = pn.playable(notes)
    assert out["pitch"].tolist() == [60, 64, 60, 60]
    assert out["start"].tolist() == [0.0, 0.0, 0.5, 2.0] and out["end"].tolist() == [0.5, 1.0, 1.5, 2.5]
    clean = note_table([60, 64, 60, 67], [90] * 4, [0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 2.0, 3.0])
    assert np.array_equal(pn.playable(clean), clean)  # touching is not overlapping


def test_bad_bin_counts_are_user_errors():
    with pytest.raises(MidigenError, match="shift_bins"):
        pn.fit_encoding([varied_notes()], shift_bins=1)


def test_bins_are_saved_in_the_bundle_and_reloaded(prepared, tmp_path):
    save_bundle(tmp_path / "weights.hdf5", Bundle(prepared.config, prepared.vocab, prepared.extra))
    bundle = load_bundle(tmp_path / "weights.hdf5")
    enc = pn.Encoding.from_json(bundle.extra["encoding"])
    assert enc.to_json() == prepared.extra["encoding"]
    assert len(bundle.vocab) == bundle.config["n_vocab"] == prepared.config["n_vocab"]
    assert pn.parse_names(bundle.vocab, enc).shape == (len(bundle.vocab), 4)


# ---- data -----------------------------------------------------------------------------------

def test_windows_stay_inside_songs():
    starts = pipeline.window_starts(np.array([0, 5, 7, 15]), length=3, stride=1)
    assert starts.tolist() == [0, 1, 2, 7, 8, 9, 10, 11, 12]


def test_batches_are_one_hot_per_batch_with_teacher_forcing(prepared):
    ids = prepared.arrays[pipeline.TOKENS]
    assert ids.dtype == np.int32 and ids.ndim == 1  # only ids are kept, not one-hot windows
    x, y = keras.tree.map_structure(np.asarray, next(iter(prepared.train)))
    enc, dec = x["encoder_input"], x["decoder_input"]
    n_vocab = prepared.config["n_vocab"]
    assert enc.shape == (16, 6, n_vocab) and dec.shape == (16, 4, n_vocab) and y.shape == (16, 4)
    assert np.all(enc.sum(-1) == 1) and np.all(dec.sum(-1) == 1)
    assert np.array_equal(dec.argmax(-1)[:, 0], enc.argmax(-1)[:, -1])  # offset by one step
    assert np.array_equal(dec.argmax(-1)[:, 1:], y[:, :-1])
    assert prepared.val is not None and int(prepared.train.cardinality()) >= 1


def test_songs_shorter_than_a_window_are_a_clear_error(tiny_corpus, tmp_path):
    with pytest.raises(MidigenError, match="input_length"):
        pipeline.prepare(tiny_config(input_length=200),
                         DataSource(tiny_corpus, tmp_path / "cache", jobs=1))


# ---- model and inference --------------------------------------------------------------------

def test_step_by_step_decoding_equals_the_teacher_forced_model():
    model = seq2seq.build_model(tiny_config(n_vocab=11, units=[8, 6]))
    encoder, decoder = seq2seq.inference_models(model)
    for name in ("encoder_lstm_1", "decoder_lstm_2", "decoder_output"):
        assert model.get_layer(name).weights[0] is _layer_in(decoder, encoder, name).weights[0]
    rng = np.random.default_rng(0)
    src = np.eye(11, dtype=np.float32)[rng.integers(0, 11, (3, 7))]
    tgt = rng.integers(0, 11, (3, 5))
    for _ in range(2):  # before and after changing the training model's weights: they are shared
        teacher = keras.ops.convert_to_numpy(model([src, np.eye(11, dtype=np.float32)[tgt]], training=False))
        states, steps = list(encoder(keras.ops.convert_to_tensor(src))), []
        for t in range(tgt.shape[1]):
            probs, *states = decoder([keras.ops.convert_to_tensor(np.eye(11, dtype=np.float32)[tgt[:, t:t + 1]])]
                                     + states)
            steps.append(keras.ops.convert_to_numpy(probs))
        np.testing.assert_allclose(np.concatenate(steps, axis=1), teacher, atol=1e-5)
        model.set_weights([w + rng.normal(0, 0.3, w.shape) for w in model.get_weights()])


def _layer_in(decoder, encoder, name):
    for model in (decoder, encoder):
        if any(layer.name == name for layer in model.layers):
            return model.get_layer(name)
    raise AssertionError(f"{name} not in the inference models")


def test_every_layer_is_named_and_config_checked():
    model = seq2seq.build_model(tiny_config(n_vocab=9))
    names = {layer.name for layer in model.layers}
    assert {"encoder_lstm_1", "encoder_dropout_1", "encoder_lstm_2", "decoder_lstm_1",
            "decoder_lstm_2", "decoder_output"} <= names
    with pytest.raises(MidigenError, match="n_vocab"):
        seq2seq.build_model(tiny_config())
    with pytest.raises(MidigenError, match="units"):
        seq2seq.build_model(tiny_config(n_vocab=9, units=[]))


def test_report_preset_has_the_report_layout():
    config = registry.make_config("seq2seq")
    assert config["units"] == [1024, 1024] and config["duration_bins"] == 4
    assert config["family"] == "seq2seq" and config["pipeline"] == "pseudonotes"


# ---- generation, save / reload --------------------------------------------------------------

def test_generate_after_save_and_reload(prepared, tmp_path):
    model = seq2seq.build_model(prepared.config)
    weights = tmp_path / "w" / "weights.hdf5"
    weights.parent.mkdir()
    model.save(weights, include_optimizer=False)  # the trainer's .hdf5 convention
    for name, array in prepared.arrays.items():
        np.save(weights.parent / f"{name}.npy", array)
    save_bundle(weights, Bundle(prepared.config, prepared.vocab, prepared.extra))

    bundle = load_bundle(weights)
    reloaded = registry.build_model(bundle.config)
    load_weights(reloaded, weights, bundle)
    options = dict(n=30, seed=3, temperature=1.0, num_outputs=2)
    first = pipeline.generate(model, bundle, GenerateOptions(output=tmp_path / "a.mid", **options))
    second = pipeline.generate(reloaded, bundle, GenerateOptions(output=tmp_path / "b.mid", **options))
    assert [p.name for p in first] == ["a-1.mid", "a-2.mid"]
    for a, b in zip(first, second):
        notes_a, notes_b = read_notes(a), read_notes(b)
        assert 0 < len(notes_a) <= 30 and np.array_equal(notes_a, notes_b)  # repeats may merge
    assert len(np.unique(notes_a["velocity"])) > 1


def test_generate_from_a_primer_with_argmax_and_stateful_engine(prepared, tiny_corpus, tmp_path):
    model = seq2seq.build_model(prepared.config)
    bundle = Bundle(prepared.config, prepared.vocab, prepared.extra, path=tmp_path / "none.json")
    primer = next(tiny_corpus.glob("*.mid"))
    runs = [pipeline.generate(model, bundle, GenerateOptions(
        n=12, output=tmp_path / f"{engine}.mid", primer=primer, engine=engine))[0]
        for engine in ("windowed", "stateful")]
    assert all(0 < len(read_notes(p)) <= 12 for p in runs)
    encoder, decoder = seq2seq.inference_models(model)
    steps = EncoderDecoderStepper(encoder, decoder, period=4)
    state = steps.start(np.zeros((2, 6), dtype=np.int64))
    probs = [np.asarray(state[0])]
    for _ in range(4):
        state = steps.push(state, np.zeros(2, dtype=np.int64))
        probs.append(np.asarray(state[0]))
    assert probs[0].shape == (2, prepared.config["n_vocab"]) and int(state[1][2]) == 5
    np.testing.assert_allclose(probs[0].sum(-1), 1.0, rtol=1e-5)
    assert not np.allclose(probs[0], probs[1])  # the decoder state moves on between calls
    with pytest.raises(MidigenError, match="unknown generation option"):
        pipeline.generate(model, bundle, GenerateOptions(n=2, extra={"nope": 1}))
    with pytest.raises(MidigenError, match="program"):
        pipeline.generate(model, bundle, GenerateOptions(n=2, primer=primer, extra={"program": 300}))
    with pytest.raises(MidigenError, match="engine"):
        pipeline.generate(model, bundle, GenerateOptions(n=2, primer=primer, engine="fast"))
    with pytest.raises(MidigenError, match="--primer"):  # no training tokens beside the bundle
        pipeline.generate(model, bundle, GenerateOptions(n=2, output=tmp_path / "x.mid"))


# ---- the CLIs ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_train_and_generate_through_the_cli(tiny_corpus, tmp_path):
    import json

    from click.testing import CliRunner

    from midigen_tf.cli import main

    def run(*args):
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    weights = tmp_path / "weights"
    output = run("train", "--model", "seq2seq-small", "--data", tiny_corpus, "--epochs", 2,
                 "--weights-dir", weights, "--cache-dir", tmp_path / "cache", "--seed", 1,
                 "--validation-split", 0.2, *sum((["--set", f"{k}={json.dumps(v)}"]
                                                  for k, v in TINY.items() if k != "epochs"), []))
    assert "vocabulary" in output and "bins: velocity" in output
    files = {p.name for p in weights.iterdir()}
    assert {"weights.hdf5", "weights.json", "history.json", "pseudonotes.npy"} <= files
    assert any(f.startswith("weights-improvement-01-") and f.endswith("-bigger.hdf5") for f in files)
    history = json.loads((weights / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and "val_loss" in history[0]
    bundle = load_bundle(weights / "weights.hdf5")
    assert bundle.extra["encoding"]["duration"]["values"] and bundle.config["n_vocab"] == len(bundle.vocab)

    out = tmp_path / "song.mid"
    run("generate", weights / "weights.hdf5", "-n", 25, "-o", out, "--seed", 5,
        "--temperature", "1.0", "-O", "reencode=5")
    again = tmp_path / "again.mid"
    run("generate", weights / "weights.hdf5", "-n", 25, "-o", again, "--seed", 5,
        "--temperature", "1.0", "-O", "reencode=5")
    assert 0 < len(read_notes(out)) <= 25 and np.array_equal(read_notes(out), read_notes(again))
