"""Sweep parameters: which config value each wildcard overrides, and which stage it belongs to.

Each stage's output path contains every sweepable parameter of that stage and of the stages
before it (``vocabulary~duration/sequence~windowed/split_pitch~60/lora_r~8/...``), always, whether swept or not: turning a scalar
into a list later keeps the existing results' paths, so nothing already built reruns.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import deep_merge


@dataclass(frozen=True)
class SweepParam:
    name: str      # wildcard name and sweep: key
    stage: str     # first stage whose outputs depend on it
    section: str   # config section holding the default
    key: str       # key inside that section


STAGES = ("data", "train", "gen")
PARAMS = (
    SweepParam("vocabulary", "data", "data", "vocabulary"),
    SweepParam("sequence", "data", "data", "sequence"),
    SweepParam("split_pitch", "data", "data", "split_pitch"),
    SweepParam("lora_r", "train", "lora", "r"),
    SweepParam("lora_alpha", "train", "lora", "alpha"),
    SweepParam("lora_dropout", "train", "lora", "dropout"),
    SweepParam("lora_lr", "train", "lora", "lr"),
    SweepParam("lora_target_modules", "train", "lora", "target_modules"),
    SweepParam("primer_max_tokens", "gen", "generate", "primer_max_tokens"),
    SweepParam("temperature", "gen", "generate", "temperature"),
    SweepParam("top_p", "gen", "generate", "top_p"),
    SweepParam("top_k", "gen", "generate", "top_k"),
    SweepParam("listening_guidance", "gen", "generate", "listening_guidance"),
)
BY_NAME = {p.name: p for p in PARAMS}


def stage_params(stage: str) -> list[SweepParam]:
    """Parameters that the outputs of ``stage`` depend on (its own and its upstream stages')."""
    upto = STAGES[: STAGES.index(stage) + 1]
    return [p for p in PARAMS if p.stage in upto]


def format_value(value: Any) -> str:
    """Wildcard text of a value: lists join with '+', floats use repr (0.001, not 1e-03)."""
    if isinstance(value, (list, tuple)):
        return "+".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_value(param: SweepParam, text: str, config: Mapping[str, Any]) -> Any:
    """Inverse of :func:`format_value`, typed like the default in the config section."""
    default = config[param.section][param.key]
    if param.name == "listening_guidance":  # a weight or "auto", whichever the default is
        return text if text == "auto" else float(text)
    if isinstance(default, list) or param.name == "lora_target_modules":  # may also be "all-linear"
        return text.split("+")
    if isinstance(default, bool):
        return text == "true"
    if isinstance(default, str):
        return text
    if isinstance(default, int) and text.lstrip("-").isdigit():
        return int(text)
    return float(text)


def pattern(stage: str) -> str:
    """Wildcard path pattern of a stage, e.g. ``split_pitch~{split_pitch}/lora_r~{lora_r}/...``."""
    return "/".join(f"{p.name}~{{{p.name}}}" for p in stage_params(stage))


def values(config: Mapping[str, Any], param: SweepParam) -> list[Any]:
    swept = config.get("sweep", {}).get(param.name)
    return list(swept) if swept is not None else [config[param.section][param.key]]


def combinations(config: Mapping[str, Any], stage: str) -> list[dict[str, str]]:
    """Every wildcard assignment of ``stage`` named by the config (cartesian product of sweep lists)."""
    params = stage_params(stage)
    grids = [list(dict.fromkeys(format_value(v) for v in values(config, p))) for p in params]
    return [dict(zip((p.name for p in params), combo)) for combo in itertools.product(*grids)]


def instance(stage: str, wildcards: Mapping[str, str]) -> str:
    """The path fragment of one assignment, e.g. ``split_pitch~60/lora_r~8``."""
    return pattern(stage).format(**{p.name: wildcards[p.name] for p in stage_params(stage)})


def resolve(config: Mapping[str, Any], wildcards: Mapping[str, str]) -> dict[str, Any]:
    """The config with each wildcard present in ``wildcards`` written into its section."""
    override: dict[str, dict[str, Any]] = {}
    for name, text in wildcards.items():
        if name in BY_NAME:
            p = BY_NAME[name]
            override.setdefault(p.section, {})[p.key] = parse_value(p, str(text), config)
    return deep_merge(config, override)
