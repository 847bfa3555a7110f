"""tf.distribute: two MultiWorkerMirroredStrategy workers on 127.0.0.1 train one epoch; both
finish, only the chief writes a checkpoint set, and the loss is close to a one-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from midigen_tf import registry
from midigen_tf.distribute import Placement, make_placement, worker_position
from midigen_tf.pipelines.base import DataSource

TINY = {"units": [8, 8], "dense_units": 8, "sequence_length": 8, "epochs": 1, "batch_size": 16}
ARGS = ["--set", "units=[8,8]", "--set", "dense_units=8", "--set", "sequence_length=8",
        "--batch-size", "16", "--epochs", "1", "--no-cache", "--jobs", "1", "--seed", "4"]
ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_position_chief_rules():
    two = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}
    assert worker_position(two) == (1, 2, False)
    assert worker_position({**two, "task": {"type": "worker", "index": 0}}) == (0, 2, True)
    chief = {"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}
    assert worker_position(chief) == (1, 2, False)
    assert worker_position({**chief, "task": {"type": "chief", "index": 0}}) == (0, 2, True)


def two_workers(args: list[str], weights: Path, second: list[str] | None = None,
                succeed: bool = True) -> list[str]:
    """Run ``midigen train ARGS --strategy multi-worker`` as two workers on 127.0.0.1 (the
    second with ``second`` as its arguments when given); both succeed, or both fail."""
    ports = [free_port(), free_port()]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "midigen_tf.cli", "train",
             *(second if index == 1 and second is not None else args),
             "--strategy", "multi-worker", "--weights-dir", str(weights)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT))
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=480)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("a worker did not finish")
        outputs.append(out.decode(errors="replace"))
    for proc, out in zip(procs, outputs):  # both workers' output when one fails
        assert (proc.returncode == 0) == succeed, "\n---\n".join(o[-3000:] for o in outputs)
    if not succeed:
        return outputs
    names = sorted(p.name for p in weights.iterdir() if not p.name.startswith("."))
    assert names.count("weights.hdf5") == 1  # one writer: the chief
    return outputs


@pytest.mark.slow
def test_two_workers_train_one_epoch_like_one_process(tiny_corpus, tmp_path):
    from midigen_tf.train import train

    weights = tmp_path / "w"
    two_workers(["--data", str(tiny_corpus), *ARGS], weights)
    names = sorted(p.name for p in weights.iterdir() if not p.name.startswith("."))
    assert len([n for n in names if n.endswith(".hdf5")]) == 2
    history = json.loads((weights / "history.json").read_text())
    assert len(history) == 1  # one writer: the chief

    config = {**registry.make_config("lstm", TINY), "seed": 4}
    source = DataSource(data_dir=tiny_corpus, cache_dir=None, jobs=1, seed=4,
                        options={"progress": False})
    single = train(config, source, tmp_path / "single", verbose=0, echo=lambda *a: None)
    assert history[0]["loss"] == pytest.approx(single.history[0]["loss"], rel=0.05)


@pytest.mark.slow
def test_workers_with_different_data_stop_with_a_clear_error(tiny_corpus, tmp_path):
    """A worker that reads other files (here: one file fewer) would run other steps and meet
    its peer in the wrong collective; both workers stop before training and say why."""
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for f in ("a.mid", "c.mid"):
        (fewer / f).write_bytes((tiny_corpus / f).read_bytes())
    outputs = two_workers(["--data", str(tiny_corpus), *ARGS], tmp_path / "w",
                          second=["--data", str(fewer), *ARGS], succeed=False)
    for index, out in enumerate(outputs):
        assert "the 2 workers prepared different data (training batches" in out, out[-2000:]
        assert f"worker {index} has training batches" in out
        assert "give every worker the same --data files" in out
    assert not (tmp_path / "w" / "weights.hdf5").exists()


OTHER_FAMILIES = {  # preset -> tiny settings, through the CLI (whatever feeds the data)
    "pianoroll-tiny": ["--set", "units=[8]", "--set", "sequence_length=10",
                       "--set", "samples_per_epoch=64", "--batch-size", "16"],
    "melody-lstm": ["--set", "units=[4]", "--set", "sequence_length=8", "--batch-size", "16"],
}


@pytest.mark.parametrize("preset", list(OTHER_FAMILIES))
@pytest.mark.slow
def test_two_workers_train_other_families(preset, tiny_corpus, tmp_path, make_midi):
    """Piano roll and folk melodies train on two workers like one process, through the CLI."""
    from click.testing import CliRunner

    from midigen_tf.cli import main

    if preset == "melody-lstm":  # folk: monophonic tunes
        data = tmp_path / "tunes"
        for seed in range(3):
            make_midi(data / f"t{seed}.mid", n=40, seed=seed, chords=False, step=0.5)
    else:
        data = tiny_corpus
    args = ["--model", preset, "--data", str(data), *OTHER_FAMILIES[preset], "--epochs", "1",
            "--no-cache", "--jobs", "1", "--seed", "4"]
    two_workers(args, tmp_path / "w")
    history = json.loads((tmp_path / "w" / "history.json").read_text())
    assert len(history) == 1  # one writer: the chief

    r = CliRunner().invoke(main, ["train", *args, "--weights-dir", str(tmp_path / "single")])
    assert r.exit_code == 0, r.output
    single = json.loads((tmp_path / "single" / "history.json").read_text())
    assert history[0]["loss"] == pytest.approx(single[0]["loss"], rel=0.05)


def test_mirrored_strategy_trains_in_process(tiny_corpus, tmp_path):
    from midigen_tf.train import train

    placement = make_placement("mirrored")
    assert placement.strategy is not None and placement.is_chief
    config = {**registry.make_config("lstm", TINY), "seed": 4}
    source = DataSource(data_dir=tiny_corpus, cache_dir=None, jobs=1, seed=4,
                        options={"progress": False})
    result = train(config, source, tmp_path / "w", verbose=0, echo=lambda *a: None,
                   placement=placement)
    assert (tmp_path / "w" / "weights.hdf5").exists() and len(result.history) == 1


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_matches_one_device(tiny_corpus, tmp_path):
    """MirroredStrategy with two replicas (two logical CPU devices, in their own process)
    trains the classic preset; its losses are close to one device's (batch-norm statistics
    are per replica, so close, not equal)."""
    helper = Path(__file__).parent / "helpers" / "mirrored_two_cpus.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(helper), str(tiny_corpus), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["logical_cpus"] == 2 and result["replicas"] == 2
    assert len(result["mirrored"]) == len(result["one_device"]) == 2
    assert result["mirrored"] == pytest.approx(result["one_device"], rel=0.05)
    assert (tmp_path / "mirrored" / "weights.hdf5").exists()


@pytest.mark.slow
def test_non_chief_writes_nothing_into_the_weights_folder(tiny_corpus, tmp_path):
    from midigen_tf.train import train

    config = {**registry.make_config("lstm", TINY), "seed": 4}
    source = DataSource(data_dir=tiny_corpus, cache_dir=None, jobs=1, seed=4,
                        options={"progress": False})
    result = train(config, source, tmp_path / "w", verbose=0, echo=lambda *a: None,
                   placement=Placement(is_chief=False))
    assert len(result.history) == 1
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())
