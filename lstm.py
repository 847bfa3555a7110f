"""Train the classic note/chord LSTM (seed 003) on midi_songs/.

    python lstm.py --epochs 36
    python lstm.py --model lstm-alt --compare seed003
    python lstm.py --data my_midis/ --set units=[64,64,64] --epochs 2

Checkpoints (in weights/PRESET, here weights/lstm):
weights/lstm/weights-improvement-{epoch:02d}-{loss:.4f}-bigger.hdf5 on every new best
loss, and weights/lstm/weights.hdf5 (the best so far), each with its bundle (.json) beside it.
All options: python lstm.py --help (this is `midigen train`).
"""

from midigen_tf.cli import friendly, train_cmd

if __name__ == "__main__":
    friendly(train_cmd)(prog_name="lstm.py")
