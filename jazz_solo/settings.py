"""Typed settings: one frozen dataclass per config section, built once from the validated config.

The defaults live in one place, the ``default:`` entries of ``schemas/config.schema.yaml``
(:func:`jazz_solo.config.with_defaults` fills them in); nothing here has a default of its own, so
a class can only be built from a config that names every key, and a key added to the schema
without a field here fails :meth:`Settings.from_config` at once. Values are kept as the config
gives them (``180`` stays an int), so hashes and JSON records of settings do not change.

``Settings.from_config(config)`` is the whole config; ``Settings.from_config(sweep.resolve(config,
wildcards))`` is one candidate's. :class:`GenSettings` is the view generation needs (the
``generate`` section plus the data settings it shares with training).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from .config import with_defaults

S = TypeVar("S")


def _section(cls: type[S], section: Mapping[str, Any], name: str, optional: tuple[str, ...] = ()) -> S:
    """``cls`` from a config section: every field must be there (its default came from the schema)
    but those in ``optional``; a key the class does not know is an error (a schema key without a field)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ValueError(f"config section '{name}': no setting field for {', '.join(unknown)} (jazz_solo/settings.py)")
    missing = sorted(names - set(section) - set(optional))
    if missing:
        raise ValueError(f"config section '{name}': missing {', '.join(missing)} (no schema default)")
    return cls(**{f.name: section.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class DataSettings:
    """``data:`` - where the MIDI is and how it becomes windows (docs/architecture.md#data)."""

    corpus: list[str]
    target: list[str]
    split_ratios: dict[str, float]
    vocabulary: str
    sequence: str
    split_pitch: int
    window_seconds: float
    hop_seconds: float
    transpose: list[int]
    min_lead_notes: int
    min_cond_notes: int
    max_cond_tokens: int
    max_sequence: int


@dataclass(frozen=True)
class ModelSettings:
    """``model:`` - the base model's shape, or ``checkpoint``: a base of your own (skips pretraining)."""

    checkpoint: str | None
    n_layer: int
    n_embd: int
    n_head: int
    intermediate_size: int
    dropout: float
    note_embeddings: str

    def shape(self) -> dict[str, Any]:
        """The settings that shape a pretrained base (``checkpoint`` only selects one)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "checkpoint"}


@dataclass(frozen=True)
class TrainSettings:
    """The optimisation keys of a ``pretrain:`` or ``lora:`` section (docs/architecture.md#training)."""

    max_steps: int
    batch_size: int
    grad_accum: int
    lr: float
    weight_decay: float
    warmup_steps: int
    eval_every: int
    checkpoint_every: int
    patience: int
    grad_clip: float
    val_windows: int | None  # in-loop validation subset (evenly spaced); None (lora's default) = all

    @classmethod
    def from_config(cls, section: Mapping[str, Any], name: str = "pretrain") -> TrainSettings:
        """This class's keys of the ``name`` section (``pretrain`` or ``lora``; LoRA-only keys are
        ignored); keys it leaves out take that section's schema defaults."""
        filled = with_defaults({name: dict(section)})[name]
        return _section(cls, {k: v for k, v in filled.items() if k not in LORA_KEYS}, name, ("val_windows",))


LORA_KEYS = ("r", "alpha", "dropout", "target_modules")


@dataclass(frozen=True)
class LoraSettings(TrainSettings):
    """``lora:`` - the adapter's shape and its training recipe."""

    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str]

    @property
    def train(self) -> TrainSettings:
        return TrainSettings(**{f.name: getattr(self, f.name) for f in fields(TrainSettings)})


@dataclass(frozen=True)
class GenerateSettings:
    """``generate:`` - how solos are sampled over the held-out comping (docs/architecture.md#generation)."""

    num_pieces: int
    num_samples: int
    max_seconds: float | None
    primer_max_tokens: int
    continuity_seconds: float
    chunk_seconds: float  # causal models: comping heard in chunks this long
    lookahead_seconds: float  # causal models: the solo is decided this far past what was heard
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    seed: int


@dataclass(frozen=True)
class EvaluateSettings:
    """``evaluate:`` - the metrics' threshold and the realism reference (docs/architecture.md#metrics)."""

    dead_air_threshold_ms: float
    reference: list[str] | None
    min_reference_pieces: int
    calibration_pieces: int


@dataclass(frozen=True)
class SelectSettings:
    """``select:`` - how the best candidate is chosen and revalidated (docs/architecture.md#selection)."""

    rule: str
    min_notes: int
    num_samples_reval: int


GEN_DATA_KEYS = ("window_seconds", "vocabulary", "split_pitch", "sequence")  # GenSettings' keys from data:
_TYPES = {"float": float, "int": int, "str": str}


@dataclass(frozen=True)
class GenSettings:
    """Everything generation needs besides the model: ``generate:`` plus the data settings
    generation must share with training (window length, vocabulary, role split, sequence format)."""

    window_seconds: float
    primer_max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    max_new_tokens: int
    continuity_seconds: float
    vocabulary: str
    split_pitch: int
    sequence: str
    chunk_seconds: float
    lookahead_seconds: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenSettings:
        """From a (resolved) config: ``generate`` section + ``data.window_seconds/vocabulary/split_pitch/
        sequence``; keys left out take the schema's defaults."""
        c = with_defaults({"generate": dict(config["generate"]), "data": dict(config["data"])})
        return cls(**{f.name: _TYPES[f.type](c["data" if f.name in GEN_DATA_KEYS else "generate"][f.name])
                      for f in fields(cls)})

    @classmethod
    def defaults(cls, **changes: Any) -> GenSettings:
        """The schema's defaults, with ``changes`` (tests, benches, a bare adapter)."""
        return dataclasses.replace(cls.from_config(with_defaults({})), **changes)

    @property
    def window_ticks(self) -> int:
        from .tokens import to_tick

        return to_tick(self.window_seconds)

    @property
    def vocab(self):  # -> vocab.Vocabulary (imported here: vocab takes its default from the schema)
        from . import vocab

        return vocab.get(self.vocabulary)


@dataclass(frozen=True)
class Settings:
    """The whole config, typed. ``demo`` and ``sweep`` stay mappings (their keys are names)."""

    seed: int
    demo: dict[str, Any]
    data: DataSettings
    model: ModelSettings
    pretrain: TrainSettings
    lora: LoraSettings
    generate: GenerateSettings
    evaluate: EvaluateSettings
    select: SelectSettings
    sweep: dict[str, list[Any]]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """From a validated config (:func:`jazz_solo.config.load_config`, or snakemake's ``config``);
        keys it leaves out take the schema's defaults."""
        c = with_defaults(config)
        return cls(
            seed=c["seed"],
            demo=dict(c.get("demo") or {}),
            data=_section(DataSettings, c["data"], "data"),
            model=_section(ModelSettings, c["model"], "model"),
            pretrain=TrainSettings.from_config(c["pretrain"]),
            lora=_section(LoraSettings, c["lora"], "lora", ("val_windows",)),
            generate=_section(GenerateSettings, c["generate"], "generate"),
            evaluate=_section(EvaluateSettings, c["evaluate"], "evaluate"),
            select=_section(SelectSettings, c["select"], "select"),
            sweep=dict(c.get("sweep") or {}),
        )

    @property
    def gen(self) -> GenSettings:
        """The view generation needs."""
        return GenSettings.from_config({"generate": dataclasses.asdict(self.generate),
                                        "data": dataclasses.asdict(self.data)})


def defaults() -> Settings:
    """Every setting at the schema's default (the data paths too: config.yaml's are not read)."""
    return Settings.from_config(with_defaults({"data": {"corpus": [], "target": []}}))
