"""The training loop shared by base pretraining and LoRA fine-tuning, and base pretraining itself.

One optimizer step = ``grad_accum`` micro-batches; the loss is the mean NLL over every lead
target of those micro-batches (summed, then divided once, so accumulation equals one big
batch). AdamW, linear warmup then cosine to 10 % of the peak lr, stepped per optimizer step;
gradient clipping; validation every ``eval_every`` steps with early stopping after
``patience`` evaluations without improvement; the best-val weights are what the caller saves.

Reliability: everything is seeded, and the batch of step k is a pure function of (seed, k),
so a run resumed from ``checkpoint/state.pt`` (model + optimizer + scheduler + RNG + step +
log, written every ``checkpoint_every`` steps) continues exactly where it stopped. A
checkpoint from a different configuration (fingerprint mismatch) is ignored. A non-finite
loss or gradient raises :class:`TrainingDiverged` before anything is saved.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .batching import batches_per_epoch, collate, epoch_batches, subset
from ..config import config_hash
from .nll import autocast, chance_nll, lead_loss_sum, mean_nll
from ..settings import ModelSettings, TrainSettings
from ..data.windows import WindowSet

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "state.pt"
LOG_FIELDS = ("step", "train_loss", "val_loss", "lr", "tokens_per_s")
MIN_LR_RATIO = 0.1


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; nothing was written."""


@dataclass
class FitResult:
    rows: list[dict[str, Any]]
    best_val: float
    best_step: int
    steps: int
    stopped_early: bool
    resumed_from: int = 0
    trainable_params: int = 0


def seed_everything(seed: int) -> None:
    """Python, numpy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup_steps: int, max_steps: int) -> float:
    """Multiplier of the peak lr for optimizer step ``step`` (0-based): warmup, then cosine."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * progress))


def trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def count_trainable(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts (tied weights counted once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", copy=True) for n, p in trainable(model).items()}


@torch.no_grad()
def _restore(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    for name, p in trainable(model).items():
        p.copy_(state[name])


def _optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.AdamW:
    # No weight decay on norms and biases (1-D), the usual transformer recipe.
    params = list(trainable(model).values())
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": s.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=s.lr, betas=(0.9, 0.95))


def _diverged(desc: str, what: str, value: float, step: int, lr: float) -> TrainingDiverged:
    return TrainingDiverged(
        f"{desc}: {what} became {value} at step {step} (lr {lr:.3g}): training diverged; "
        "lower the lr or raise warmup_steps. Nothing was saved."
    )


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill mid-write leaves the previous checkpoint intact


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict):
            raise ValueError("not a checkpoint")
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt: torch raises OSError, RuntimeError, pickle errors
        # Set it aside (kept for inspection) and start over, instead of failing on every rerun.
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("%s is corrupt (%s); set aside as %s, training starts from scratch", path, reason, aside.name)
        print(f"warning: {path} is corrupt ({reason}); set aside as {aside.name}, starting from scratch",
              file=sys.stderr)
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning("%s was written by a different configuration; starting from scratch", path)
        return None
    return state


def fit(
    model: torch.nn.Module,
    train_set: WindowSet,
    val_set: WindowSet,
    settings: TrainSettings,
    seed: int,
    checkpoint_dir: str | Path,
    fingerprint: str = "",
    desc: str = "train",
    on_step: Callable[[int], None] | None = None,
) -> FitResult:
    """Train the parameters of ``model`` that require grad; leave the best-val weights loaded.

    ``on_step(step)`` is called after each optimizer step (and after any checkpoint of that
    step); an exception from it interrupts training like a kill would.
    """
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"{desc}: empty training or validation window set")
    s = settings
    device = next(model.parameters()).device
    fingerprint = config_hash([fingerprint, asdict(s), seed, len(train_set), int(train_set.offsets[-1])])
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE
    seed_everything(seed)
    optimizer = _optimizer(model, s)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: lr_factor(k, s.warmup_steps, s.max_steps)
    )
    val = subset(val_set, s.val_windows)
    lengths = train_set.lengths()
    per_epoch = batches_per_epoch(len(train_set), s.batch_size)
    n_trainable, n_total = count_trainable(model)
    log.info("%s: device %s, %d trainable of %d parameters, %d train / %d val windows",
             desc, device, n_trainable, n_total, len(train_set), len(val))
    print(f"{desc}: device {device}, trainable parameters {n_trainable:,} of {n_total:,}", file=sys.stderr)

    state = _load_checkpoint(ckpt_path, fingerprint)
    if state is not None:
        _restore(model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        step, rows = state["step"], state["rows"]
        best_val, best_step, best_state, stale = state["best_val"], state["best_step"], state["best_state"], state["stale"]
        log.info("%s: resuming from %s at step %d", desc, ckpt_path, step)
        print(f"{desc}: resuming from checkpoint at step {step}", file=sys.stderr)
    else:
        step, stale = 0, 0
        best_val = mean_nll(model, val, s.batch_size)[0]
        best_step, best_state = 0, _snapshot(model)
        rows = [{"step": 0, "train_loss": None, "val_loss": best_val, "lr": 0.0, "tokens_per_s": None}]
        log.info("%s: step 0 val_loss %.4f", desc, best_val)
    resumed_from = step

    epoch_cache: dict[int, list[np.ndarray]] = {}

    def micro_batch(k: int):
        epoch, i = divmod(k, per_epoch)
        if epoch not in epoch_cache:
            epoch_cache.clear()
            epoch_cache[epoch] = epoch_batches(lengths, s.batch_size, seed, epoch)
        return collate(train_set, epoch_cache[epoch][i], training=True)

    model.train()
    stopped_early = False
    bar = tqdm(total=s.max_steps, initial=step, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)
    while step < s.max_steps:
        t0 = time.perf_counter()
        batches = [micro_batch(step * s.grad_accum + j) for j in range(s.grad_accum)]
        n_targets = max(1, sum(b.n_targets for b in batches))
        optimizer.zero_grad(set_to_none=True)
        loss_total = 0.0
        for batch in batches:
            with autocast(device):
                loss_sum, _ = lead_loss_sum(model, batch.to(device))
            if not torch.isfinite(loss_sum):
                bar.close()
                raise _diverged(desc, "loss", float(loss_sum.detach()), step + 1, scheduler.get_last_lr()[0])
            (loss_sum / n_targets).backward()
            loss_total += float(loss_sum.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(list(trainable(model).values()), s.grad_clip)
        if not torch.isfinite(grad_norm):
            bar.close()
            raise _diverged(desc, "gradient norm", float(grad_norm), step + 1, scheduler.get_last_lr()[0])
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        row = {"step": step, "train_loss": loss_total / n_targets, "val_loss": None, "lr": lr,
               "tokens_per_s": sum(b.n_tokens for b in batches) / max(elapsed, 1e-9)}
        if step % s.eval_every == 0 or step == s.max_steps:
            row["val_loss"] = mean_nll(model, val, s.batch_size)[0]
            model.train()
            if not math.isfinite(row["val_loss"]):
                bar.close()
                raise _diverged(desc, "validation loss", row["val_loss"], step, lr)
            if row["val_loss"] < best_val:
                best_val, best_step, best_state, stale = row["val_loss"], step, _snapshot(model), 0
            else:
                stale += 1
            log.info("%s: step %d train_loss %.4f val_loss %.4f (best %.4f @ %d) lr %.3g %.0f tok/s",
                     desc, step, row["train_loss"], row["val_loss"], best_val, best_step, lr, row["tokens_per_s"])
            stopped_early = stale >= s.patience
        rows.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", best_val=f"{best_val:.3f}")
        if step % s.checkpoint_every == 0 and step < s.max_steps and not stopped_early:
            _save_checkpoint(ckpt_path, {
                "fingerprint": fingerprint, "step": step, "rows": rows,
                "model": _snapshot(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": _rng_state(),
                "best_val": best_val, "best_step": best_step, "best_state": best_state, "stale": stale,
            })
        if on_step is not None:
            on_step(step)
        if stopped_early:
            log.info("%s: early stop at step %d: no val improvement in %d evaluations", desc, step, s.patience)
            break
    bar.close()
    _restore(model, best_state)
    log.info("%s: best val_loss %.4f at step %d", desc, best_val, best_step)
    return FitResult(rows, best_val, best_step, step, stopped_early, resumed_from, n_trainable)


def quiet_libraries() -> None:
    """Keep the job log readable: no per-shard progress bars or known-harmless library warnings."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # peft 0.21 calls a transformers 5 method deprecated in favour of is_activation_checkpointing
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def clear_checkpoint(checkpoint_dir: str | Path) -> None:
    """Remove the resume state once the final outputs are written."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)


def write_log(rows: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """train_log.csv: step, train_loss, val_loss, lr, tokens_per_s (empty where not measured)."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_FIELDS})


def read_log(path: str | Path) -> list[dict[str, float | None]]:
    with open(path, newline="") as fh:
        return [{k: (float(v) if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)]


def dataset_settings(npz: str | Path) -> dict[str, Any]:
    """The data settings a window set was made with (its ``dataset_summary.json``; empty when absent,
    e.g. window sets a test wrote by hand). Summaries from before vocabularies: performance."""
    summary = Path(npz).parent / "dataset_summary.json"
    if not summary.is_file():
        return {}
    return {"vocabulary": "performance", "sequence": "windowed", **json.loads(summary.read_text())}


def pretrain(
    train_npz: str | Path,
    val_npz: str | Path,
    model_settings: ModelSettings,
    train: TrainSettings,
    seed: int,
    model_dir: str | Path,
    log_csv: str | Path,
    plot_png: str | Path,
    device: torch.device | str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> FitResult:
    """Pretrain a base model on corpus windows; write model dir, train_log.csv and loss.png.

    The resume state lives in ``<model_dir>/../checkpoint`` and is removed at the end.
    """
    from .model import build_model, data_record, pick_device, save_base
    from .loss_plot import loss_curve

    quiet_libraries()
    device = torch.device(device) if device is not None else pick_device()
    train_set, val_set = WindowSet.load(train_npz), WindowSet.load(val_npz)
    data = data_record(dataset_settings(train_npz))
    model = build_model(model_settings, seed, data).to(device)
    checkpoint_dir = Path(model_dir).parent / "checkpoint"
    fingerprint = config_hash({"model": model_settings.shape(), "data": data})
    result = fit(model, train_set, val_set, train, seed, checkpoint_dir, fingerprint, desc="pretrain", on_step=on_step)
    save_base(model.to("cpu"), model_dir)
    write_log(result.rows, log_csv)
    loss_curve(result.rows, plot_png, title=f"pretrain (best val {result.best_val:.3f} @ step {result.best_step})",
               chance=chance_nll(model.config.vocab_size))
    clear_checkpoint(checkpoint_dir)
    return result
