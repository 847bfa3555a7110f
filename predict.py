"""Write a MIDI file from saved weights (seed 003's predict.py).

    python predict.py weights/lstm/weights.hdf5 -n 500            # argmax, test_output.mid
    python predict.py weights/lstm/weights.hdf5 --temperature 1.0 --seed 1 -o sampled.mid
    python predict.py old-keras2-weights.hdf5 --notes data/notes   # the original scripts' files

All options: python predict.py --help (this is `midigen generate`).
"""

from midigen_tf.cli import friendly, generate_cmd

if __name__ == "__main__":
    friendly(generate_cmd)(prog_name="predict.py")
