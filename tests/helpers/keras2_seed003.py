"""The original seed-003 ``lstm.py`` model written with genuine Keras 2 (``tf_keras``).

    python keras2_seed003.py OUT_DIR [UNITS...]

Writes OUT_DIR/notes (the token pickle, as the original ``get_notes`` did), OUT_DIR/weights.hdf5
(a full-model HDF5 file, as the original ``ModelCheckpoint`` did), OUT_DIR/x.npy (a few input
windows, ``index / n_vocab``) and OUT_DIR/probs.npy (the next-token probabilities Keras 2
computes for them). Run in its own process: Keras 2 and Keras 3 stay apart.
"""

import os
import pickle
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import tf_keras
from tf_keras.layers import LSTM, Activation, BatchNormalization, Dense, Dropout
from tf_keras.models import Sequential

out = sys.argv[1]
units = [int(u) for u in sys.argv[2:]] or [216, 316, 316]
sequence_length = 100
rng = np.random.default_rng(3)
pool = ["C4", "E4", "G4", "B-3", "F#5", "A2", "4.7.11", "0.4.7", "2.5.9", "11.2", "7", "D5"]
notes = [pool[i] for i in rng.integers(0, len(pool), 160)]
with open(os.path.join(out, "notes"), "wb") as fh:
    pickle.dump(notes, fh)

# prepare_sequences, as the original wrote it
pitchnames = sorted(set(notes))
n_vocab = len(pitchnames)
note_to_int = {note: number for number, note in enumerate(pitchnames)}
windows = [[note_to_int[c] for c in notes[i:i + sequence_length]]
           for i in range(0, len(notes) - sequence_length)]
x = np.reshape(windows, (len(windows), sequence_length, 1)) / float(n_vocab)

model = Sequential()
model.add(LSTM(units[0], input_shape=(x.shape[1], x.shape[2]), recurrent_dropout=0.3,
               return_sequences=True))
model.add(LSTM(units[1], return_sequences=True, recurrent_dropout=0.3))
model.add(LSTM(units[2]))
model.add(BatchNormalization())
model.add(Dropout(0.3))
model.add(Dense(256))
model.add(Activation("relu"))
model.add(BatchNormalization())
model.add(Dropout(0.3))
model.add(Dense(n_vocab))
model.add(Activation("softmax"))
model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
# weights as after training: every array (biases, batch-norm statistics) away from its start.
# Matrices get scale 1/sqrt(fan-in), as trained layers have: with larger recurrent weights the
# LSTM is chaotic, and float rounding (another batch size, another summation order: the same
# maths) grows over 100 steps into different probabilities.
for layer in model.layers:
    values = [rng.normal(scale=0.3 if w.ndim == 1 else 1.0 / np.sqrt(w.shape[0]), size=w.shape)
              for w in layer.get_weights()]
    if isinstance(layer, LSTM):  # inputs in [0, 1]: a larger input kernel lets them matter
        values[0] = values[0] * 3.0
    if isinstance(layer, BatchNormalization):  # gamma, beta, moving mean, moving variance
        values[3] = np.abs(values[3]) + 0.5
    layer.set_weights(values)
model.save(os.path.join(out, "weights.hdf5"))  # what ModelCheckpoint("...hdf5") wrote

sample = x[:: max(1, len(x) // 6)][:6].astype("float32")
np.save(os.path.join(out, "x.npy"), sample)
np.save(os.path.join(out, "probs.npy"), model.predict(sample, verbose=0))
print(tf_keras.__version__, n_vocab)
