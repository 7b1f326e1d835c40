"""peft LoRA on a frozen base: configuration, training, saving, and the held-out NLL report.

The adapter is saved with ``save_pretrained`` (adapter_config.json + adapter_model.safetensors),
with ``base_model_name_or_path`` rewritten RELATIVE to the adapter directory, so a results
tree can move as a whole and :func:`jazz_solo.training.model.load_for_inference` still finds the base.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from ..config import config_hash
from .nll import chance_nll, listening_gain, nll_totals
from .model import BASE_WEIGHTS, RECORD_FILE, check_data, data_record, load_base, pick_device, recorded_data
from .loss_plot import loss_curve
from ..settings import LoraSettings
from .loop import (
    FitResult,
    clear_checkpoint,
    dataset_settings,
    fit,
    quiet_libraries,
    seed_everything,
    write_log,
)
from ..data.dataset import in_keys, window_shifts
from ..data.windows import WindowSet

log = logging.getLogger(__name__)


ALL_LINEAR = "all-linear"  # peft's shorthand: every linear layer except the output head


def target_modules(value: str | list[str]) -> str | list[str]:
    """The peft ``target_modules`` of a config value: module names, or "all-linear" (given as a
    string, or a one-item list, which is how a sweep path ``lora_target_modules~all-linear`` reads
    back); peft only recognises the shorthand as a plain string."""
    names = [value] if isinstance(value, str) else list(value)
    if ALL_LINEAR in names:
        if len(names) > 1:
            raise ValueError(f"config key 'lora.target_modules' {names}: {ALL_LINEAR!r} cannot be combined with names")
        return ALL_LINEAR
    return names


def lora_config(lora: LoraSettings) -> LoraConfig:
    """A peft LoraConfig of the ``lora:`` settings (after sweep wildcards are applied)."""
    return LoraConfig(
        r=int(lora.r),
        lora_alpha=float(lora.alpha),
        lora_dropout=float(lora.dropout),
        target_modules=target_modules(lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def wrap(base: torch.nn.Module, lora: LoraSettings, seed: int) -> PeftModel:
    """The base frozen, with fresh LoRA matrices (seeded: A is random, B starts at zero)."""
    quiet_libraries()
    seed_everything(seed)
    try:
        return get_peft_model(base, lora_config(lora))
    except ValueError as exc:  # e.g. a target module name the model does not have
        raise ValueError(f"config key 'lora.target_modules' {lora.target_modules}: "
                         f"{str(exc).splitlines()[0]}") from None


def save_adapter(model: PeftModel, adapter_dir: str | Path, base_dir: str | Path) -> Path:
    """``save_pretrained`` + base path relative to the adapter directory."""
    adapter_dir = Path(adapter_dir)
    # Written beside it, then renamed: a kill mid-save never leaves a half adapter that looks done.
    tmp = adapter_dir.with_name(f".{adapter_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    cfg_path = tmp / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = os.path.relpath(Path(base_dir).resolve(), adapter_dir.resolve())
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    os.replace(tmp, adapter_dir)
    return adapter_dir


def nll_report(model: PeftModel, val_set: WindowSet, batch_size: int) -> dict[str, Any]:
    """Val NLL of the base (adapter disabled) and of base + adapter, per lead token and per lead
    note (the per-note figures compare across vocabularies), and how much each listens to the
    comping (``nll.listening_gain``: nats per note lost when it is moved a semitone)."""
    with model.disable_adapter():
        base = nll_totals(model, val_set, batch_size)
        base_listening = listening_gain(model, val_set, batch_size, real_per_note=base["per_note"])
    adapter = nll_totals(model, val_set, batch_size)
    return {
        "val_windows": len(val_set),
        "val_tokens": base["tokens"],
        "val_notes": base["notes"],
        "chance_nll": chance_nll(model.config.vocab_size),
        "base_nll": base["per_token"],
        "adapter_nll": adapter["per_token"],
        "improvement": base["per_token"] - adapter["per_token"],
        "improvement_pct": 100.0 * (base["per_token"] - adapter["per_token"]) / base["per_token"],
        "base_nll_per_note": base["per_note"],
        "adapter_nll_per_note": adapter["per_note"],
        "base_listening_gain": base_listening,
        "adapter_listening_gain": listening_gain(model, val_set, batch_size, real_per_note=adapter["per_note"]),
    }


def train_lora(
    base_dir: str | Path,
    train_npz: str | Path,
    val_npz: str | Path,
    lora: LoraSettings,
    seed: int,
    adapter_dir: str | Path,
    log_csv: str | Path,
    plot_png: str | Path,
    eval_json: str | Path,
    device: torch.device | str | None = None,
    on_step: Callable[[int], None] | None = None,
) -> FitResult:
    """LoRA on the target's train windows in ``lora.transpose``'s keys (read from the index beside
    ``train_npz``), early-stopped on target val; write adapter, log, plot, eval.json.

    Only the best-val adapter is kept. The resume state lives in ``<adapter_dir>/../checkpoint``.
    """
    quiet_libraries()
    device = torch.device(device) if device is not None else pick_device()
    train_set = in_keys(WindowSet.load(train_npz), window_shifts(train_npz), lora.transpose)
    val_set = WindowSet.load(val_npz)
    base = load_base(base_dir, device)
    record = recorded_data(base)
    check_data(record, dataset_settings(train_npz), base_dir)
    model = wrap(base, lora, seed)
    settings = lora.train
    checkpoint_dir = Path(adapter_dir).parent / "checkpoint"
    # The base's identity includes its weights file's size and mtime: a retrained base at the
    # same path must not resume an adapter checkpoint made for the old one.
    weights = Path(base_dir) / BASE_WEIGHTS
    stamp = [weights.stat().st_size, weights.stat().st_mtime_ns] if weights.is_file() else None
    fingerprint = config_hash({"lora": lora.as_config(), "base": str(Path(base_dir).resolve()), "weights": stamp})
    result = fit(model, train_set, val_set, settings, seed, checkpoint_dir, fingerprint, desc="lora", on_step=on_step)
    report = nll_report(model, val_set, settings.batch_size)
    report.update(train_windows=len(train_set), best_step=result.best_step, steps=result.steps, stopped_early=result.stopped_early,
                  trainable_params=result.trainable_params, best_val_subset=result.best_val)
    log.info("lora: val NLL base %.4f -> adapter %.4f (improvement %.4f nats, chance %.4f)",
             report["base_nll"], report["adapter_nll"], report["improvement"], report["chance_nll"])
    save_adapter(model, adapter_dir, base_dir)
    # The adapter carries the data settings of its base, so a copy of it says what it expects.
    (Path(adapter_dir) / RECORD_FILE).write_text(json.dumps(data_record(record), indent=2, sort_keys=True) + "\n")
    write_log(result.rows, log_csv)
    loss_curve(result.rows, plot_png,
               title=f"LoRA (val NLL base {report['base_nll']:.3f} -> adapter {report['adapter_nll']:.3f})",
               chance=report["chance_nll"])
    Path(eval_json).write_text(json.dumps(report, indent=2) + "\n")
    clear_checkpoint(checkpoint_dir)
    return result
