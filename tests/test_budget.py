"""--max-minutes: a wall-time budget spent in whole epochs, cut at a batch end when it must be."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from midigen_tf.checkpoints import TimeBudget
from midigen_tf.cli import main

TINY = ["--set", "units=[8,8]", "--set", "dense_units=8", "--set", "sequence_length=8",
        "--batch-size", "16", "--no-cache", "--jobs", "1", "--seed", "2"]


class FakeModel:
    stop_training = False


def test_budget_stops_at_the_first_batch_end_past_the_limit():
    now = [100.0]
    budget = TimeBudget(0.5, clock=lambda: now[0])  # 30 seconds
    budget.set_model(FakeModel())
    budget.on_train_begin()
    budget.on_epoch_begin(0)
    for t in (110.0, 129.9):
        now[0] = t
        budget.on_train_batch_end(0)
        assert budget.model.stop_training is False
    now[0] = 130.0
    budget.on_train_batch_end(2)
    assert budget.model.stop_training is True and budget.stopped
    logs = {}
    budget.on_epoch_end(0, logs)
    assert logs == {"batches": 3}


def test_budget_does_not_start_an_epoch_that_would_end_past_the_limit():
    now = [0.0]
    budget = TimeBudget(1.0, clock=lambda: now[0])  # 60 seconds, epochs of 25 s
    budget.set_model(FakeModel())
    budget.on_train_begin()
    for epoch, end in enumerate((25.0, 50.0)):
        budget.on_epoch_begin(epoch)
        now[0] = end
        budget.on_train_batch_end(0)
        budget.on_epoch_end(epoch, {})
        # after the first epoch 25 + 25 <= 60: go on; after the second 50 + 25 > 60: stop
        assert budget.model.stop_training is (epoch == 1), epoch
    assert budget.stopped and budget.longest == 25.0


@pytest.mark.slow
def test_max_minutes_ends_a_long_run_after_one_epoch_with_its_files(tiny_corpus, tmp_path):
    weights = tmp_path / "w"
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--epochs", "50",
                                  "--max-minutes", "0.0001", "--weights-dir", str(weights), *TINY])
    assert r.exit_code == 0, r.output
    rows = json.loads((weights / "history.json").read_text())
    assert len(rows) == 1 and rows[0]["batches"] == 1
    assert (weights / "weights.hdf5").is_file() and (weights / "last.keras").is_file()
    assert "trained 1 epoch(s)" in r.output


def test_max_minutes_must_be_positive(tiny_corpus, tmp_path):
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--max-minutes", "0",
                                  "--weights-dir", str(tmp_path / "w"), *TINY])
    assert r.exit_code == 2 and "--max-minutes" in r.output
