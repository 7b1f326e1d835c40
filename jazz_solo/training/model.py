"""The Music Transformer: a transformers Llama causal LM (rotary relative positions, pre-norm
RMSNorm, SDPA attention, KV cache) sized from config, plus save/load helpers for the base and
for base + peft adapter.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ..data import causal_sequence, tokens, vocab
from ..settings import ModelSettings

BASE_WEIGHTS = "model.safetensors"
RECORD_KEY = "jazz_solo_data"  # the data-stage settings a model was trained for, in its config.json
RECORD_FILE = "data_settings.json"  # the same record beside an adapter
RECORDED = ("vocabulary", "sequence", "split_pitch", "window_seconds", "max_cond_tokens", "max_sequence")
MUST_MATCH = ("vocabulary", "sequence", "split_pitch")  # using a model with other values of these is refused


def data_record(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The recorded subset of data settings (a dataset summary or the ``data:`` section)."""
    data = dict(data or {})
    data.setdefault("vocabulary", vocab.DEFAULT)
    data.setdefault("sequence", causal_sequence.DEFAULT)
    return {k: data[k] for k in RECORDED if k in data}


def model_config(
    settings: ModelSettings, data: Mapping[str, Any] | None = None, max_positions: int = 4096
) -> LlamaConfig:
    """A LlamaConfig of the ``model:`` settings, sized for ``data``'s vocabulary, which is recorded
    in it with the other data settings the model depends on (``data``: a data record, such as a
    dataset summary or a ``data:`` section as the config holds it)."""
    n_embd = int(settings.n_embd)
    n_head = int(settings.n_head)
    if n_embd % n_head:
        raise ValueError(f"config key 'model.n_embd' ({n_embd}) must be divisible by model.n_head ({n_head})")
    record = data_record(data)
    return LlamaConfig(
        vocab_size=vocab.get(record["vocabulary"]).size,
        hidden_size=n_embd,
        intermediate_size=int(settings.intermediate_size),
        num_hidden_layers=int(settings.n_layer),
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max_positions,
        attention_dropout=float(settings.dropout),
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokens.BOS,
        eos_token_id=tokens.EOS,
        pad_token_id=tokens.PAD,
        attn_implementation="sdpa",
        **{RECORD_KEY: record},
    )


def build_model(
    settings: ModelSettings, seed: int | None = None, data: Mapping[str, Any] | None = None
) -> LlamaForCausalLM:
    """A freshly initialised model for ``data``'s vocabulary (seeded when ``seed`` is given)."""
    if seed is not None:
        torch.manual_seed(seed)
    model = LlamaForCausalLM(model_config(settings, data))
    if settings.note_embeddings == "pitch_class":
        pitch_class_embeddings(model)
    return model


def pitch_class_embeddings(model: LlamaForCausalLM, own: float = 0.25, octave: float = 0.5) -> None:
    """Start every NOTE_ON/NOTE_OFF embedding as its pitch class's vector + its octave's (scaled by
    ``octave``) + ``own`` times its random one; a NOTE_OFF adds one shared offset vector.

    With 128 unrelated pitch embeddings (and the tied head) a small model must learn separately, for
    every octave, that a solo note fits the comping's chord, and in 500 CPU steps it does not: moving
    the comping a semitone cost it 0.008 nats per lead note. Started this way, C4 and C5 share what
    is learnt about a C, and the same base and steps cost 0.160 nats (it listens) with 3 % lower val
    NLL per note (README "Training"). Draws from torch's global generator, seeded by build_model.
    """
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        scale = float(weight.std())
        pitch_class = torch.randn(12, weight.shape[1]) * scale
        octaves = torch.randn(11, weight.shape[1]) * scale * octave
        off = torch.randn(weight.shape[1]) * scale
        pitches = torch.arange(128)
        shared = pitch_class[pitches % 12] + octaves[pitches // 12]
        weight[tokens.NOTE_ON : tokens.NOTE_ON + 128] = shared + own * weight[tokens.NOTE_ON : tokens.NOTE_ON + 128]
        weight[tokens.NOTE_OFF : tokens.NOTE_OFF + 128] = (
            shared + off + own * weight[tokens.NOTE_OFF : tokens.NOTE_OFF + 128]
        )


def recorded_data(model: torch.nn.Module) -> dict[str, Any]:
    """The data settings ``model`` (a base, or base + adapter) was trained for. A base from before
    vocabularies were recorded has 392 ids: the performance vocabulary."""
    return _record({RECORD_KEY: getattr(model.config, RECORD_KEY, None), "vocab_size": model.config.vocab_size})


def _record(cfg: Mapping[str, Any]) -> dict[str, Any]:
    if cfg.get(RECORD_KEY) is None and cfg.get("vocab_size") == tokens.VOCAB_SIZE:
        return {"vocabulary": "performance", "sequence": "windowed"}
    record = dict(cfg.get(RECORD_KEY) or {})
    if record:  # recorded before sequence formats existed: the windowed one
        record.setdefault("sequence", "windowed")
    return record


def recorded_base_data(model_dir: str | Path) -> dict[str, Any]:
    """The data settings recorded in a base model directory's config.json (without loading weights);
    empty when unreadable (loading it later says why)."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return _record(cfg)


def check_data(record: Mapping[str, Any], data: Mapping[str, Any], source: str | Path) -> None:
    """Refuse (one line naming ``source``) a model trained for other data settings than ``data``."""
    for key in MUST_MATCH:
        if key in record and key in data and record[key] != data[key]:
            raise ValueError(
                f"{source}: model trained for data.{key} = {record[key]!r}, but the data here has {data[key]!r}"
            )


def save_base(model: torch.nn.Module, out_dir: str | Path) -> Path:
    """Write config.json + model.safetensors (transformers format)."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


def load_base(model_dir: str | Path, device: str | torch.device = "cpu") -> LlamaForCausalLM:
    """Load a base model directory (ours or a user-supplied checkpoint) with a clear error."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: not a base model directory (no config.json)")
    model = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    record = recorded_data(model)
    if "vocabulary" not in record:
        raise ValueError(f"{model_dir}: vocab_size {model.config.vocab_size} and no recorded vocabulary "
                         f"(not a jazz-solo model)")
    expected = vocab.get(record["vocabulary"]).size
    if model.config.vocab_size != expected:
        raise ValueError(f"{model_dir}: vocab_size {model.config.vocab_size} != {expected} of the "
                         f"{record['vocabulary']} vocabulary (not a jazz-solo model)")
    return model.to(device).eval()


def adapter_base_dir(adapter_dir: str | Path) -> Path:
    """The base model directory recorded in a peft adapter's adapter_config.json."""
    config_path = Path(adapter_dir) / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{adapter_dir}: not a peft adapter directory (no adapter_config.json)")
    cfg = json.loads(config_path.read_text())
    base = Path(cfg["base_model_name_or_path"])
    return base if base.is_absolute() else (Path(adapter_dir) / base).resolve()


def load_for_inference(
    adapter_dir: str | Path | None,
    base_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    merge: bool = True,
) -> torch.nn.Module:
    """Base (+ peft adapter, merged for speed by default) in eval mode on ``device``."""
    from peft import PeftModel

    if adapter_dir is None and base_dir is None:
        raise ValueError("need an adapter directory or a base model directory")
    base = load_base(base_dir if base_dir is not None else adapter_base_dir(adapter_dir), device)
    if adapter_dir is None:
        return base
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    if merge:
        model = model.merge_and_unload()
    return model.to(device).eval()


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
