"""Honesty in selection: flags a leaderboard row carries when its number does not mean what it seems.

- the adapter is not better than the base on validation (train ``eval.json`` ``improvement`` <= 0):
  early stopping then keeps the step-0 adapter, whose LoRA B weights are zero, i.e. the base;
- the adapter's weights are byte-identical to another training candidate's (two "candidates"
  that are one model);
- the solos share a longer run of notes with the target's training pieces than any real held-out
  piece does (a replay can win on realism when training pieces are in the reference).

Flags never exclude a candidate (the ranking rule stays what ``select.rule`` says); they are shown
in leaderboard.tsv/.md, best.json (``warnings``) and the report.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ADAPTER_WEIGHTS = "adapter_model.safetensors"
GAIN_COLUMNS = ("adapter_gain", "adapter_gain_pct", "adapter_base_nll", "adapter_nll")


def _is_zero_adapter(weights: Path) -> bool:
    """All LoRA B matrices zero: base + adapter is exactly the base."""
    import torch
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as fh:
        b_keys = [k for k in fh.keys() if "lora_B" in k]
        return bool(b_keys) and all(torch.count_nonzero(fh.get_tensor(k)) == 0 for k in b_keys)


def adapter_facts(eval_json: str | Path, adapter_dir: str | Path) -> dict[str, Any]:
    """Validation gain (from eval.json), weights sha256 and whether the adapter is all-zero.
    Missing or unreadable files give None values (the flag then says so)."""
    facts: dict[str, Any] = {k: None for k in (*GAIN_COLUMNS, "sha256", "zero")}
    try:
        report = json.loads(Path(eval_json).read_text())
        facts.update(adapter_gain=report.get("improvement"), adapter_gain_pct=report.get("improvement_pct"),
                     adapter_base_nll=report.get("base_nll"), adapter_nll=report.get("adapter_nll"))
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    weights = Path(adapter_dir) / ADAPTER_WEIGHTS
    if weights.is_file():
        facts["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        facts["zero"] = _is_zero_adapter(weights)
    return facts


def adapter_flags(train_id: str, facts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Plain-language flags of one training candidate, given the facts of all of them."""
    own = facts[train_id]
    flags = []
    gain = own.get("adapter_gain")
    if gain is None:
        flags.append("adapter gain unknown (no eval.json)")
    elif not gain > 0:
        flags.append(f"adapter not better than the base on validation (gain {gain:+.4g} nats per lead token)")
    if own.get("zero"):
        flags.append("adapter weights are zero: this is the base model")
    twins = sorted(t for t, f in facts.items() if t != train_id and own.get("sha256") and f.get("sha256") == own["sha256"])
    if twins:
        flags.append("adapter byte-identical to " + ", ".join(twins))
    return flags


def copy_flag(max_copy_run: Any, held_out_max: Any) -> str | None:
    """Flag when a candidate's longest run shared with the training pieces exceeds the real
    held-out pieces' longest (same check on real music of the same artist)."""
    try:
        run, limit = float(max_copy_run), float(held_out_max)
    except (TypeError, ValueError):
        return None
    if math.isnan(run) or math.isnan(limit) or run <= limit:
        return None
    return f"replays training pieces? longest shared run {run:.0f} notes > real held-out pieces' {limit:.0f}"


def annotate(
    rows: Sequence[dict[str, Any]],
    train_of: Mapping[str, str],
    facts: Mapping[str, Mapping[str, Any]],
    held_out_copy: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Candidate rows with the gain columns, ``adapter_sha256`` (12 hex) and ``flags`` ("; "-joined).

    ``train_of``: candidate id -> training candidate id; ``held_out_copy``: split_pitch (path
    text) -> the real held-out pieces' max_copy_run.
    """
    out = []
    for row in rows:
        train_id = train_of[row["candidate"]]
        own = facts.get(train_id, {})
        flags = adapter_flags(train_id, facts) if train_id in facts else ["adapter gain unknown (no eval.json)"]
        copied = copy_flag(row.get("max_copy_run"), held_out_copy.get(str(row.get("split_pitch"))))
        flags += [copied] if copied else []
        extra = {k: own.get(k) for k in GAIN_COLUMNS}
        extra["adapter_sha256"] = (own.get("sha256") or "")[:12]
        extra["flags"] = "; ".join(flags)
        out.append({**row, **extra})
    return out
