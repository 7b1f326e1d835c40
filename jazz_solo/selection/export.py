"""The exported best candidate (``results/best/``): everything the real-time generator needs.

Layout::

    results/best/
      adapter/          peft adapter (adapter_config.json points at ../base_model)
      base_model/       config.json + model.safetensors
      bundle.json       model, tokenizer, data-window and generation settings of the winner
      best.json         sweep metrics, revalidation metrics, adapter sha256, provenance
      selection.json    the select_best decision (rule, rank, candidate id)
      reval/            revalidated samples (samples/*.mid, samples.jsonl) + metrics.json
      archive.tgz       all of the above + the leaderboard (deterministic tar: sorted, mtime 0)
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import __version__, paths
from ..data import tokens, vocab
from ..artifacts import ADAPTER_WEIGHTS, atomic_write_bytes, atomic_write_text
from ..training.model import adapter_base_dir
from ..settings import LORA_KEYS, Settings

# Bumped whenever the event vocabulary or the window format changes meaning (docs/architecture.md#token-format).
TOKEN_SPEC = {
    "name": "jazz-solo-events",
    "version": 2,  # 2: vocabularies (the bundle's data.vocabulary names the lead events)
    "special": {"EOS": tokens.EOS, "PAD": tokens.PAD, "BOS": tokens.BOS, "SEP": tokens.SEP},
    "sequence": "BOS cond SEP lead EOS",
    "time_shift_ms": 10,
}
DATA_KEYS = ("vocabulary", "sequence", "split_pitch", "window_seconds", "hop_seconds", "max_cond_tokens", "max_sequence")


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_model(adapter_dir: str | Path, adapter_out: str | Path, base_out: str | Path) -> None:
    """Copy the adapter and the base it was trained on; the copy's adapter_config.json points at
    the copied base by a relative path, so the bundle loads wherever it is unpacked."""
    adapter_dir, adapter_out, base_out = Path(adapter_dir), Path(adapter_out), Path(base_out)
    if not (adapter_dir / ADAPTER_WEIGHTS).is_file():
        raise FileNotFoundError(f"{adapter_dir}: no {ADAPTER_WEIGHTS} (not a peft adapter)")
    base_dir = adapter_base_dir(adapter_dir)
    if not (base_dir / "config.json").is_file():
        raise FileNotFoundError(f"{base_dir}: base model of {adapter_dir} is missing")
    for src, dst in ((adapter_dir, adapter_out), (base_dir, base_out)):
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
    cfg_path = adapter_out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = str(Path("..") / base_out.name) if base_out.parent == adapter_out.parent else str(
        base_out.resolve()
    )
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def bundle(settings: Settings, selection: Mapping[str, Any]) -> dict[str, Any]:
    """Settings a generator needs to reproduce the winner (``settings`` already resolved with its wildcards)."""
    config = settings.as_config("data", "model", "lora", "generate", "evaluate")
    return {
        "candidate": selection["candidate"],
        "package_version": __version__,
        "token_spec": {**TOKEN_SPEC, "vocabulary": settings.data.vocabulary,
                       "vocab_size": vocab.get(settings.data.vocabulary).size},
        "data": {k: config["data"][k] for k in DATA_KEYS},
        "model": config["model"],
        "lora": {k: config["lora"][k] for k in LORA_KEYS},
        "generate": config["generate"],
        "evaluate": config["evaluate"],
        "paths": {"adapter": "adapter", "base_model": "base_model"},
    }


def best_record(
    selection: Mapping[str, Any],
    reval_metrics: Mapping[str, Any],
    adapter_sha256: str,
    settings: Settings,
) -> dict[str, Any]:
    """best.json: the winner's sweep metrics beside its revalidation on new seeds."""
    return {
        "candidate": selection["candidate"],
        "params": selection["params"],
        "rule": selection["rule"],
        "n_candidates": selection.get("n_candidates"),
        "n_eligible": selection.get("n_eligible"),
        "sweep_metrics": selection["metrics"],
        # honesty (jazz_solo.selection.honesty): the adapter's validation gain over the base, plain warnings,
        # and the calibration rows' realism_distance to read the winner's against
        "adapter_gain": selection.get("adapter_gain"),
        "warnings": selection.get("warnings", []),
        "calibration_realism": selection.get("calibration_realism", {}),
        "revalidation": {
            "status": reval_metrics.get("status", "ok"),
            "num_samples": reval_metrics.get("num_samples"),
            "seeds": reval_metrics.get("seeds"),
            "realism_distance": reval_metrics.get("realism_distance"),
            "summary": reval_metrics.get("summary", {}),
        },
        "adapter_sha256": adapter_sha256,
        "config_hash": settings.candidate_hash(),
        "package_version": __version__,
    }


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
    # Fixed owner and mtime: the archive's bytes depend only on the files' contents.
    info = tar.gettarinfo(str(path), arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if info.isfile():
        with open(path, "rb") as fh:
            tar.addfile(info, fh)
    else:
        tar.addfile(info)


def archive(out: str | Path, members: Iterable[tuple[str | Path, str]]) -> Path:
    """A deterministic .tgz of (path, name in archive) pairs; folders are added recursively in name order."""
    out = Path(out)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, arcname in members:
            src = Path(src)
            if not src.exists():
                raise FileNotFoundError(f"{src}: missing, cannot archive it")
            _add(tar, src, str(arcname))
            if src.is_dir():
                for path in sorted(src.rglob("*")):
                    if not path.name.startswith(".snakemake"):  # snakemake's directory() markers
                        _add(tar, path, str(Path(arcname) / path.relative_to(src)))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    return atomic_write_bytes(out, packed.getvalue())  # temp + rename: never a truncated archive


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def export_best(
    settings: Settings,
    selection_json: str | Path,
    adapter_dir: str | Path,
    reval_metrics_json: str | Path,
    reval_samples: str | Path,
    reval_jsonl: str | Path,
    leaderboard_files: Iterable[str | Path],
    out: Mapping[str, str | Path],
) -> dict[str, Any]:
    """Write the bundle into ``out`` (keys adapter, base, bundle, best, archive) and return best.json.

    ``settings`` are the config's resolved with the winner's wildcards.
    """
    selection = json.loads(Path(selection_json).read_text())
    reval = json.loads(Path(reval_metrics_json).read_text())
    adapter_out, base_out = Path(out["adapter"]), Path(out["base"])
    copy_model(adapter_dir, adapter_out, base_out)
    _write_json(Path(out["bundle"]), bundle(settings, selection))
    record = best_record(selection, reval, sha256(adapter_out / ADAPTER_WEIGHTS), settings)
    _write_json(Path(out["best"]), record)
    members = [
        (adapter_out, paths.in_results("best_adapter")),
        (base_out, paths.in_results("best_base_model")),
        (out["bundle"], paths.in_results("bundle")),
        (out["best"], paths.in_results("best_json")),
        (selection_json, paths.in_results("selection")),
        (reval_metrics_json, paths.in_results("reval_metrics")),
        (reval_jsonl, paths.in_results("reval_jsonl")),
        (reval_samples, paths.in_results("reval_samples")),
        *((path, f"sweep/{Path(path).name}") for path in leaderboard_files),
    ]
    archive(out["archive"], members)
    return record
