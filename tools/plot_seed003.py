"""docs/seed003-loss.png: our main run's training loss per epoch beside seed 003's figures.

    python tools/plot_seed003.py [HISTORY_JSON] [OUT_PNG]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from midigen_tf.references import SEED003_ALT, SEED003_MAIN_BEST, SEED003_MAIN_EPOCHS  # noqa: E402


def main(history: str = "weights/shipped/lstm-seed003/history.json",
         out: str = "docs/seed003-loss.png") -> None:
    rows = json.loads(Path(history).read_text())
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["epoch"] for r in rows], [r["loss"] for r in rows], "o-",
            label="ours: lstm, default corpus less held-out files")
    ax.plot(range(1, len(SEED003_ALT) + 1), SEED003_ALT, "s--",
            label="seed 003 lstm-alt (their corpus)")
    ax.axhline(SEED003_MAIN_BEST, color="grey", linestyle=":",
               label=f"seed 003 lstm: best < {SEED003_MAIN_BEST} after {SEED003_MAIN_EPOCHS} epochs")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (categorical cross-entropy)")
    ax.set_xlim(0, SEED003_MAIN_EPOCHS + 1)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
