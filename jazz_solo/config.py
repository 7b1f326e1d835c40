"""Config loading and schema validation with one-line errors naming the key."""
from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = PROJECT_ROOT / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.yaml"


class ConfigError(ValueError):
    """Invalid configuration; the message is one line naming the offending key."""


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        # jsonschema reports the parent; name the unknown key(s) themselves
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(parts + [",".join(extra)]) if extra else ".".join(parts) or "<root>"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join(parts + missing[:1])
    return ".".join(parts) or "<root>"


def _non_finite(obj: Any, path: tuple[str, ...] = ()) -> tuple[str, float] | None:
    """(key, value) of the first NaN/inf number: YAML's .nan passes every schema bound."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return ".".join(path) or "<root>", obj
    items = obj.items() if isinstance(obj, Mapping) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _non_finite(value, (*path, str(key)))
        if found:
            return found
    return None


def validate_config(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    """Raise :class:`ConfigError` with a one-line message for the first schema violation."""
    bad = _non_finite(dict(config))
    if bad:
        raise ConfigError(f"config key '{bad[0]}': {bad[1]} is not a finite number")
    schema = yaml.safe_load(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        check_combinations(config)
        return
    error = jsonschema.exceptions.best_match(errors)
    key = _key_path(error)
    if error.validator == "additionalProperties":
        raise ConfigError(f"config key '{key}' is not a known setting (see {schema_path.name})")
    if error.validator == "required":
        raise ConfigError(f"config key '{key}' is required")
    message = error.message.splitlines()[0]
    raise ConfigError(f"config key '{key}': {message}")


def check_combinations(config: Mapping[str, Any]) -> None:
    """Settings that are valid alone but not together (JSON schema cannot compare two keys)."""
    data = config.get("data", {})
    if "hop_seconds" in data and "window_seconds" in data and data["hop_seconds"] > data["window_seconds"]:
        raise ConfigError(f"config key 'data.hop_seconds': {data['hop_seconds']} is longer than "
                          f"data.window_seconds {data['window_seconds']} (music between windows would never be seen)")
    if "max_cond_tokens" in data and "max_sequence" in data and data["max_cond_tokens"] + 3 >= data["max_sequence"]:
        raise ConfigError(f"config key 'data.max_cond_tokens': {data['max_cond_tokens']} leaves no room for the "
                          f"lead in data.max_sequence {data['max_sequence']}")
    stored = data.get("transpose", schema_default("data.transpose"))
    keys = config.get("lora", {}).get("transpose", schema_default("lora.transpose"))
    if keys[0] > keys[1] or keys[1] < stored[0] or keys[0] > stored[1]:
        raise ConfigError(f"config key 'lora.transpose': {list(keys)} selects none of the train windows' keys "
                          f"(data.transpose {list(stored)}; give [lowest, highest] semitones)")
    sweep = config.get("sweep", {})
    for key, what in (("vocabulary", "vocabulary"), ("sequence", "sequence format")):
        if config.get("model", {}).get("checkpoint") and len(sweep.get(key) or []) > 1:
            raise ConfigError(f"config key 'sweep.{key}': a supplied base (model.checkpoint) has one {what}; "
                              f"sweep {key} with bases the pipeline pretrains")
    vocabularies = sweep.get("vocabulary") or [data.get("vocabulary", schema_default("data.vocabulary"))]
    for sequence in sweep.get("sequence") or [data.get("sequence", schema_default("data.sequence"))]:
        for vocabulary in vocabularies:
            if sequence == "causal" and vocabulary != "duration":
                raise ConfigError(f"config key 'data.sequence': causal needs data.vocabulary duration, not "
                                  f"{vocabulary!r} (a causal lead note carries its length at its onset)")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, recursively for nested mappings."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the schema's defaults filled in, keys in the schema's order (then any others)."""
    props = schema.get("properties")
    if not isinstance(value, Mapping) or not props:
        return copy.deepcopy(value)
    out: dict[str, Any] = {}
    for key, sub in props.items():
        if key in value:
            out[key] = _fill(sub, value[key])
        elif "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        elif any("default" in s for s in (sub.get("properties") or {}).values()):
            out[key] = _fill(sub, {})
    out.update((k, copy.deepcopy(v)) for k, v in value.items() if k not in out)
    return out


def with_defaults(config: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """``config`` with every key it leaves out set to the schema's ``default:`` (the only defaults)."""
    return _fill(yaml.safe_load(schema_path.read_text()), config)


def schema_default(key: str) -> Any:
    """The schema's default of a dotted key, e.g. ``data.vocabulary`` (for modules that need the
    value where no config is at hand, such as records written before the key existed)."""
    value: Any = with_defaults({})
    for part in key.split("."):
        value = value[part]
    return value


def merged_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Schema defaults, then config.yaml, then ``overrides`` on top (not validated)."""
    user = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()) or {}
    return with_defaults(deep_merge(user, overrides or {}))


def load_config(*paths: str | Path, validate: bool = True) -> dict[str, Any]:
    """Schema defaults + config.yaml with each given YAML file merged on top, validated."""
    config: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()) or {}
    for path in paths:
        path = Path(path)
        try:
            override = yaml.safe_load(path.read_text()) or {}
        except UnicodeDecodeError:  # a binary file: Python's own message would name no file
            raise ConfigError(f"{path}: not a text (YAML) file") from None
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config ({str(exc).splitlines()[0]})") from None
        if not isinstance(override, dict):
            raise ConfigError(f"{path}: a config file must be a YAML mapping, got {type(override).__name__}")
        config = deep_merge(config, override)
    config = with_defaults(config)
    if validate:
        validate_config(config)
    return config


def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable object (for provenance)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
