"""The classic LSTM stack of seed 003 on MidiTok tokens (REMI, TSD, MIDI-Like).

    Embedding(n_vocab, embedding_dim) -> the seed-003 stack of ``models/lstm.py``
    (LSTM 216 / 316 / 316, BatchNorm, Dropout, Dense 256, relu, ..., softmax), rmsprop.

Input: int token ids, shape ``(batch, sequence_length)``. MidiTok vocabularies (about 300 to
400 tokens, with bars, positions or time shifts, durations and velocities) are symbols, not
magnitudes, so an ``Embedding`` replaces the report's ``index / n_vocab`` scalar. The
tokenizer is chosen with ``--set tokenizer=remi|tsd|midilike``; its other keys
(``data.tokens.TOKENIZER_DEFAULTS``) default to MidiTok's own defaults.
"""

from __future__ import annotations

import keras

from midigen_tf.data.tokens import TOKENIZER_DEFAULTS
from midigen_tf.models import lstm

FAMILY = "lstm-tokens"
PIPELINE = "tokens"

_COMMON = {k: v for k, v in lstm.PRESETS["lstm"].items() if k not in ("part_mode", "offset_step")}
_COMMON.update(TOKENIZER_DEFAULTS, embedding_dim=64)

PRESETS = {
    "lstm-remi": {**_COMMON, "tokenizer": "remi"},
    "lstm-tsd": {**_COMMON, "tokenizer": "tsd"},
    "lstm-midilike": {**_COMMON, "tokenizer": "midilike"},
    # a few seconds per epoch on a CPU: for trying the pipeline out and for tests
    "lstm-tokens-tiny": {**_COMMON, "units": [32, 32], "dense_units": 32, "embedding_dim": 16,
                         "sequence_length": 32, "batch_size": 32, "epochs": 2},
}


def build_model(config: dict) -> keras.Model:
    def inputs(policy):
        return [keras.Input((int(config["sequence_length"]),), dtype="int32", name="tokens"),
                keras.layers.Embedding(int(config["n_vocab"]), int(config["embedding_dim"]),
                                       name="embedding", dtype=policy)]

    return lstm.build_model(config, inputs=inputs)
