"""Training plots as PNG files, for every family: loss curves and actual-vs-predicted values.

matplotlib runs headless (Agg); each figure is written atomically and closed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from midigen_tf.io import atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    try:
        fig.tight_layout()
        return atomic.write_with(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    finally:
        plt.close(fig)


def history_columns(history) -> dict[str, list[float]]:
    """``{metric: [value per epoch]}`` from a Keras ``History``, such a dict, or a list of
    per-epoch rows (``[{"epoch": 1, "loss": ..., "val_loss": ...}, ...]``, the trainer's)."""
    history = getattr(history, "history", history) or {}
    if isinstance(history, Mapping):
        return {k: list(v) for k, v in history.items()}
    columns: dict[str, list[float]] = {}
    for row in history:
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    return columns


def loss_title(history, keys: tuple[str, str] = ("loss", "val_loss"),
               subject: str | None = None) -> str:
    """What a loss plot shows: training loss, with validation loss only when there is one."""
    history = history_columns(history)
    both = bool(history.get(keys[1]))
    if subject is None:
        return "Training and Validation Losses" if both else "Training Loss"
    return f"{subject}: " + ("training and validation loss" if both else "training loss")


def loss_figure(history, title: str | None = None, keys: tuple[str, str] = ("loss", "val_loss"),
                subject: str | None = None):
    """The figure of ``plot_losses`` (not saved): epochs 1, 2, ... on integer ticks."""
    from matplotlib.ticker import MaxNLocator

    history = history_columns(history)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    epochs = 0
    for key, label, color in ((keys[0], "Training Loss", "blue"), (keys[1], "Validation Loss", "orange")):
        values = list(history.get(key) or [])
        if values:
            ax.plot(np.arange(1, len(values) + 1), values, label=label, color=color, marker=".")
            epochs = max(epochs, len(values))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(0.5, max(epochs, 1) + 0.5)
    ax.set_title(title if title is not None else loss_title(history, keys, subject))
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    if epochs:
        ax.legend()
    ax.grid(True)
    return fig


def plot_losses(history, path: str | os.PathLike, title: str | None = None,
                keys: tuple[str, str] = ("loss", "val_loss"), subject: str | None = None) -> Path:
    """Training (blue) and validation (orange) loss per epoch, as the report's ``plot_loss``.

    ``history``: anything ``history_columns`` reads; a missing validation curve is not drawn,
    and the title (unless given) says so: "Training and Validation Losses" as in the report, or
    "Training Loss"; with ``subject`` ("lstm"): "lstm: training loss".
    """
    return _save(loss_figure(history, title, keys, subject), path)


def plot_actual_vs_predicted(actual: Sequence[float], predicted: Sequence[float],
                             path: str | os.PathLike, title: str = "Actual vs Predicted Values",
                             ylabel: str = "Target Value") -> Path:
    """Actual (green circles) and predicted (blue crosses) per sample, as the report."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(np.asarray(actual, dtype=float), marker="o", label="Actual", color="green")
    ax.plot(np.asarray(predicted, dtype=float), marker="x", label="Predicted", color="blue")
    ax.set_title(title)
    ax.set_xlabel("Sample Index")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(True)
    return _save(fig, path)
