"""The reports' reference figures, in one place: what ``compare`` and the pipelines print ours beside.

* seed 003 (the classic note/chord LSTM): the alternative model's training loss per epoch and
  the main model's best loss;
* seed 004 (the piano-roll LSTM): loss, accuracy, false positives and false negatives per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """What a report trained: the family of ours that reproduces it, its model and its corpus."""

    name: str
    family: str
    model: str
    corpus: str
    vocabulary: str
    preset: str  # our preset that trains it (its run's default folder: weights/PRESET)


REFERENCES: dict[str, Reference] = {
    "seed003": Reference(
        "seed003", "lstm",
        "seed 003 alternative model: note/chord LSTM 250/350/350, window 120",
        "39 MIDI files of 20th-century composers (not available)",
        "not stated (note/chord tokens of their corpus)", "lstm-alt"),
    "seed004": Reference(
        "seed004", "pianoroll",
        "seed 004 piano-roll LSTM 512, 50 frames of 256 cells, 160,000 samples per epoch",
        "not named", "none (256 binary cells per 0.1 s frame)", "pianoroll"),
}

# Seed 003, alternative model (seq 120, LSTM 250/350/350), training loss per epoch, read off
# the checkpoint names.
SEED003_ALT = [5.7543, 5.1056, 4.9866, 4.9395, 4.8916, 4.8575, 4.8244, 4.7975, 4.7756, 4.7491,
               4.7156, 4.6766, 4.6449, 4.6091, 4.5701, 4.5296]
SEED003_MAIN_BEST = 3.6290  # main model: best loss "less than 3.6290" after 36 epochs
SEED003_MAIN_EPOCHS = 36

# Seed 004's per-epoch table (training figures, 160,000 samples per epoch), one column a line.
_SEED004_COLUMNS = {
    "epoch": (1, 2, 3, 4, 5, 6, 7, 10, 14, 20),
    "loss": (0.0535, 0.0380, 0.0380, 0.0284, 0.0231, 0.0194, 0.0145, 0.0065, 0.0036, 0.0027),
    "accuracy": (0.9823, 0.9867, 0.9867, 0.9893, 0.9914, 0.9928, 0.9951, 0.9982, 0.9989, 0.9991),
    "false_positives": (8513, 27069, 27069, 23349, 19882, 14648, 9852, 3998, 3079, 2404),
    "false_negatives": (109658, 65661, 65661, 52003, 43153, 33459, 23792, 7885, 4675, 3526),
}
SEED004_TABLE: list[dict[str, float]] = [dict(zip(_SEED004_COLUMNS, row))
                                         for row in zip(*_SEED004_COLUMNS.values())]
SEED004_METRICS = ("loss", "accuracy", "false_positives", "false_negatives")


def _fmt(v, spec: str) -> str:
    return "" if v is None else format(v, spec)


def seed003_table(history: list[dict]) -> str:
    """Our per-epoch loss (and val_loss) beside seed 003's alternative model, as Markdown."""
    lines = ["| epoch | seed 003 loss | our loss | our val_loss |", "|---:|---:|---:|---:|"]
    for e in range(1, max(len(SEED003_ALT), len(history)) + 1):
        ref = SEED003_ALT[e - 1] if e <= len(SEED003_ALT) else None
        row = history[e - 1] if e <= len(history) else {}
        lines.append(f"| {e} | {_fmt(ref, '.4f')} | {_fmt(row.get('loss'), '.4f')} "
                     f"| {_fmt(row.get('val_loss'), '.4f')} |")
    best = min((r["loss"] for r in history if "loss" in r), default=None)
    lines += ["", f"seed 003 main model: best loss < {SEED003_MAIN_BEST} after "
              f"{SEED003_MAIN_EPOCHS} epochs; ours: best loss {_fmt(best, '.4f')} after "
              f"{len(history)} epochs"]
    return "\n".join(lines)


def seed004_table(history, prefix: str = "") -> str:
    """Our per-epoch figures beside seed 004's, as a Markdown table.

    ``history`` is the trainer's rows (``[{"loss": ..., "false_negatives": ...}, ...]``, one per
    epoch) or Keras' ``History.history`` (``{"loss": [...], ...}``); ``prefix="val_"`` compares
    the validation figures instead.
    """
    metrics = SEED004_METRICS
    if isinstance(history, dict):
        ours = {m: list(history.get(prefix + m, [])) for m in metrics}
    else:
        ours = {m: [row[prefix + m] for row in history if prefix + m in row] for m in metrics}
    reference = {row["epoch"]: row for row in SEED004_TABLE}
    n = max([len(v) for v in ours.values()] + [max(reference)])
    head = ("| epoch | loss (report / ours) | accuracy (report / ours) | FP (report / ours) "
            "| FN (report / ours) |")
    lines = [head, "|---:|---:|---:|---:|---:|"]
    fmt = {"loss": "{:.4f}", "accuracy": "{:.4f}", "false_positives": "{:.0f}",
           "false_negatives": "{:.0f}"}
    for epoch in range(1, n + 1):
        ref = reference.get(epoch)
        if ref is None and not any(len(ours[m]) >= epoch for m in metrics):
            continue
        cells = []
        for m in metrics:
            r = fmt[m].format(ref[m]) if ref else "-"
            o = fmt[m].format(ours[m][epoch - 1]) if len(ours[m]) >= epoch else "-"
            cells.append(f"{r} / {o}")
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLES = {"seed003": seed003_table, "seed004": seed004_table}  # our rows beside each reference
