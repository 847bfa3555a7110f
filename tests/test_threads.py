"""``--cpu-threads INTRA,INTER``: TensorFlow's CPU thread pools, set before it starts, with a clear
error for a bad spec and for a setting that comes too late."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from midigen_tf.cli import main
from midigen_tf.distribute import parse_cpu_threads, set_cpu_threads
from midigen_tf.errors import MidigenError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "units=[8,8]", "--set", "dense_units=8", "--set", "sequence_length=8",
        "--batch-size", "16", "--epochs", "1", "--no-cache"]


def test_thread_specs_parse():
    assert parse_cpu_threads("1,2") == (1, 2)
    assert parse_cpu_threads(" 4 , 1 ") == (4, 1)
    assert parse_cpu_threads("3") == (3, 0)  # inter-op left to TensorFlow
    assert set_cpu_threads(None) is None


@pytest.mark.parametrize("spec", ["", "two", "1,2,3", "0,2", "1,-2", "1.5,2"])
def test_bad_thread_spec_is_refused_with_the_fix(spec):
    with pytest.raises(MidigenError, match="is not INTRA,INTER") as err:
        parse_cpu_threads(spec)
    assert "--cpu-threads 1,2" in err.value.hint


def test_threads_after_tensorflow_started_are_refused():
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow has made its thread pools
    other = tf.config.threading.get_intra_op_parallelism_threads() + 3
    with pytest.raises(MidigenError, match="came after TensorFlow had started") as err:
        set_cpu_threads(f"{other},1")
    assert "start of the process" in err.value.hint


def test_train_refuses_a_bad_thread_spec_before_reading_data(tmp_path):
    r = CliRunner().invoke(main, ["train", "--cpu-threads", "fast", "--data", str(tmp_path / "no"),
                                  "--weights-dir", str(tmp_path / "w")])
    assert r.exit_code == 1 and "--cpu-threads 'fast' is not INTRA,INTER" in r.output
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_lstm_py_trains_with_the_threads_it_was_given(tiny_corpus, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    probe = ("import sys, runpy; sys.argv = sys.argv[1:]; "
             "import atexit, tensorflow as tf; t = tf.config.threading; "
             "atexit.register(lambda: print('pools', t.get_intra_op_parallelism_threads(), "
             "t.get_inter_op_parallelism_threads())); "
             "runpy.run_path(sys.argv[0], run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", probe, str(ROOT / "lstm.py"), "--cpu-threads", "1,2",
                          "--data", str(tiny_corpus), "--weights-dir", str(tmp_path / "w"), *TINY],
                         cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CPU threads: 1 per op, 2 ops side by side" in run.stdout
    assert "pools 1 2" in run.stdout  # what TensorFlow ran with
    assert (tmp_path / "w" / "weights.hdf5").exists()
