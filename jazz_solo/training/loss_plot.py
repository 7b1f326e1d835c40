"""Loss-curve PNG from train_log rows (matplotlib, headless Agg backend)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on pods/CI
import matplotlib.pyplot as plt  # noqa: E402



def _ema(values: Sequence[float], alpha: float = 0.1) -> list[float]:
    out, acc = [], None
    for v in values:
        acc = v if acc is None else (1 - alpha) * acc + alpha * v
        out.append(acc)
    return out


def loss_curve(
    rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "", chance: float | None = None
) -> Path:
    """Train loss (raw and smoothed) and val loss per optimizer step, with the chance level (the NLL
    of a uniform guess over the model's vocabulary) when given."""
    train = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        steps, losses = zip(*train)
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.plot(steps, _ema(losses), color="tab:blue", label="train (EMA)")
    if val:
        ax.plot(*zip(*val), "o-", color="tab:orange", label="val")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=0.8, label=f"chance {chance:.2f}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per lead token (nats)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
