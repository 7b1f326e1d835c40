"""Figures for ``snakemake --report``: piano rolls of the best samples over their conditioning,
metric distributions of the revalidated samples against the real reference, training curves."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on pods/CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..evaluation import scoring  # noqa: E402
from ..data.tokens import Note  # noqa: E402


def _bars(ax: Any, notes: Sequence[Note], color: str, label: str) -> None:
    if notes:
        for n in notes:
            ax.broken_barh([(n.start, max(n.end - n.start, 0.01))], (n.pitch - 0.4, 0.8), color=color)
        ax.plot([], [], color=color, linewidth=6, label=f"{label} ({len(notes)} notes)")


def piano_rolls(samples_jsonl: str | Path, samples_dir: str | Path, split_pitch: int, out: str | Path, max_rolls: int) -> Path:
    """One piano roll per sample (first sample of each piece first): comping grey, solo coloured."""
    records = [json.loads(line) for line in Path(samples_jsonl).read_text().splitlines() if line.strip()]
    records.sort(key=lambda r: (int(r.get("sample", 0)), str(r.get("piece_id"))))
    records = records[:max_rolls]
    fig, axes = plt.subplots(max(1, len(records)), 1, figsize=(10, 2.6 * max(1, len(records))), dpi=90, squeeze=False)
    for ax, rec in zip(axes[:, 0], records):
        cond, lead = scoring.roles(Path(samples_dir) / Path(rec["midi"]).name, split_pitch)
        _bars(ax, cond, "0.6", "comping")
        _bars(ax, lead, "tab:red", "solo")
        ax.axhline(split_pitch + 0.5, color="0.3", linestyle=":", linewidth=0.8)
        ax.set_title(f"{rec.get('piece_id')} sample {rec.get('sample')} (seed {rec.get('seed')})", fontsize=9)
        ax.set_ylabel("pitch")
        ax.legend(loc="upper right", fontsize=7)
    if not records:
        axes[0, 0].text(0.5, 0.5, "no revalidated samples", ha="center", va="center")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)


def metric_distributions(reval_metrics: Mapping[str, Any], reference: Mapping[str, Any], out: str | Path) -> Path:
    """Per metric: the revalidated samples' values beside the real lead hands' (box + points)."""
    names = list(scoring.METRICS)
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), dpi=90, squeeze=False)
    generated = [r for r in reval_metrics.get("files", []) if "error" not in r]
    real = [r for r in reference.get("files", []) if "error" not in r]
    for ax, name in zip(axes.flat, names):
        groups = [[float(r[name]) for r in generated if r.get(name) is not None],
                  [float(r[name]) for r in real if r.get(name) is not None]]
        labels = [f"best (n={len(groups[0])})", f"real (n={len(groups[1])})"]
        shown = [(g, lab) for g, lab in zip(groups, labels) if g]
        if shown:
            ax.boxplot([g for g, _ in shown], tick_labels=[lab for _, lab in shown], widths=0.5, showfliers=False)
            for i, (g, _) in enumerate(shown, start=1):
                ax.plot([i] * len(g), g, "o", alpha=0.4, markersize=3, color="tab:red" if i == 1 and groups[0] else "tab:blue")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    distance = reval_metrics.get("realism_distance")
    fig.suptitle(f"revalidated best vs real lead hands (realism_distance {distance:.3g})" if distance is not None
                 else "revalidated best vs real lead hands", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)


def training_curves(logs: Sequence[str | Path], labels: Sequence[str], out: str | Path) -> Path:
    """Validation (and smoothed train) loss of every LoRA candidate, one colour each."""
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=90)
    for i, (path, label) in enumerate(zip(logs, labels)):
        frame = pd.read_csv(path)
        color = f"C{i % 10}"
        train = frame.dropna(subset=["train_loss"])
        if not train.empty:
            ax.plot(train["step"], train["train_loss"].ewm(alpha=0.1).mean(), color=color, alpha=0.35, linewidth=1)
        val = frame.dropna(subset=["val_loss"])
        if not val.empty:
            ax.plot(val["step"], val["val_loss"], "o-", color=color, markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per lead token (nats)")
    ax.set_title("LoRA candidates: val loss (points), train loss EMA (faint)", fontsize=10)
    if labels:
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)


def short_label(candidate: str, swept: Sequence[str]) -> str:
    """``lora_r=8 lora_lr=0.002`` from a path fragment, naming only the swept parameters."""
    parts = dict(p.split("~", 1) for p in candidate.split("/"))
    shown = [f"{k}={v}" for k, v in parts.items() if k in swept]
    return " ".join(shown) or candidate


def calibration_chart(board: pd.DataFrame, swept: Sequence[str], out: str | Path) -> Path:
    """realism_distance of every candidate (red; hatched when flagged) beside the calibration rows
    (grey: real held-out, corpus artists, random notes, base alone), lowest first."""
    metric = "realism_distance"
    rows = board[board[metric].notna()].sort_values(metric)
    fig, ax = plt.subplots(figsize=(9, 0.32 * max(len(rows), 4) + 1.2), dpi=90)
    for i, (_, r) in enumerate(rows.iterrows()):
        calib = r.get("kind") == "calibration"
        label = str(r["candidate"]).removeprefix("calibration:") if calib else short_label(str(r["candidate"]), swept)
        label += f" split_pitch={r['split_pitch']}" if calib and "split_pitch" in swept else ""
        flagged = isinstance(r.get("flags"), str) and bool(r.get("flags"))
        ax.barh(i, r[metric], color="0.6" if calib else "tab:red", hatch="//" if flagged else None,
                edgecolor="0.2" if flagged else None)
        ax.text(r[metric], i, f" {label}" + (" (flagged)" if flagged else ""), va="center", fontsize=7)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.8 * float(rows[metric].max()) if len(rows) else 1.0)  # room for the labels
    if not len(rows):
        ax.text(0.5, 0, "no realism_distance yet", ha="center")
    ax.set_xlabel("realism_distance (0 = like the reference)")
    ax.set_title("candidates (red) beside the calibration rows (grey)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return Path(out)
