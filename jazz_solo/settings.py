"""Typed settings: one frozen dataclass per config section, built once from the validated config.

The defaults live in one place, the ``default:`` entries of ``schemas/config.schema.yaml``
(:func:`jazz_solo.config.with_defaults` fills them in); nothing here has a default of its own, so
a class can only be built from a config that names every key, and a key added to the schema
without a field here fails :meth:`Settings.from_config` at once. Values are kept as the config
gives them (``180`` stays an int), so hashes and JSON records of settings do not change.

``Settings.from_config(config)`` is the whole config; ``Settings.from_config(sweep.resolve(config,
wildcards))`` is one candidate's. The package takes these classes, never config mappings: a section
class's ``from_config`` fills a partial section from the schema (tests, benches), ``as_config`` gives
it back as the config writes it (what provenance hashes and the bundle record). :class:`GenSettings`
is the view generation needs (the ``generate`` section plus the data settings it shares with training).
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from .config import config_hash, with_defaults

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


class Section:
    """What every section class shares: built from a (partial) config section, given back as one."""

    SECTION: ClassVar[str]  # its key in the config
    OPTIONAL: ClassVar[tuple[str, ...]] = ()  # fields without a schema default (None = unset)

    @classmethod
    def from_config(cls: type[S], section: Mapping[str, Any], name: str | None = None) -> S:
        """From the ``name`` section (default: the class's own); keys it leaves out take that
        section's schema defaults."""
        name = name or cls.SECTION
        return _section(cls, with_defaults({name: dict(section)})[name], name, cls.OPTIONAL)

    def updated(self: S, values: Mapping[str, Any]) -> S:
        """A copy with ``values`` written in; keys that are not settings of this section are
        skipped (a record such as bundle.json may hold more, or keys of another version)."""
        names = {f.name for f in fields(self)}
        return dataclasses.replace(self, **{k: v for k, v in values.items() if k in names})

    def as_config(self) -> dict[str, Any]:
        """The section as the config holds it (an unset optional key is absent), so that a hash or a
        record made from it equals one made from the config."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
                if not (f.name in self.OPTIONAL and getattr(self, f.name) is None)}


@dataclass(frozen=True)
class DataSettings(Section):
    """``data:`` - where the MIDI is and how it becomes windows (docs/architecture.md#data)."""

    SECTION = "data"

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
class ModelSettings(Section):
    """``model:`` - the base model's shape, or ``checkpoint``: a base of your own (skips pretraining)."""

    SECTION = "model"

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
class TrainSettings(Section):
    """The optimisation keys of a ``pretrain:`` or ``lora:`` section (docs/architecture.md#training)."""

    SECTION = "pretrain"
    OPTIONAL = ("val_windows",)

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
    def from_config(cls: type[S], section: Mapping[str, Any], name: str | None = None) -> S:
        """This class's keys of the ``name`` section (``pretrain`` or ``lora``; LoRA-only keys are
        ignored by pretraining); keys it leaves out take that section's schema defaults."""
        name = name or cls.SECTION
        filled = with_defaults({name: dict(section)})[name]
        own = {f.name for f in fields(cls)}
        return _section(cls, {k: v for k, v in filled.items() if k in own or k not in LORA_KEYS}, name, cls.OPTIONAL)


LORA_KEYS = ("r", "alpha", "dropout", "target_modules", "transpose")


@dataclass(frozen=True)
class LoraSettings(TrainSettings):
    """``lora:`` - the adapter's shape and its training recipe."""

    SECTION = "lora"

    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str]
    transpose: list[int]  # the target train windows' transpositions (of data.transpose's) trained on

    @property
    def train(self) -> TrainSettings:
        return TrainSettings(**{f.name: getattr(self, f.name) for f in fields(TrainSettings)})


@dataclass(frozen=True)
class GenerateSettings(Section):
    """``generate:`` - how solos are sampled over the held-out comping (docs/architecture.md#generation)."""

    SECTION = "generate"

    num_pieces: int
    num_samples: int
    max_seconds: float | None
    primer_max_tokens: int
    continuity_seconds: float
    eos_margin_seconds: float  # windowed models: EOS only this close to the window's end (0: any time)
    chunk_seconds: float  # causal models: comping heard in chunks this long
    lookahead_seconds: float  # causal models: the solo is decided this far past what was heard
    listening_guidance: float | str  # generation.guidance: weight of what the real comping adds (0: off; "auto")
    temperature: float
    top_p: float
    top_k: int
    max_new_tokens: int
    seed: int


@dataclass(frozen=True)
class EvaluateSettings(Section):
    """``evaluate:`` - the metrics' threshold and the realism reference (docs/architecture.md#metrics)."""

    SECTION = "evaluate"

    dead_air_threshold_ms: float
    reference: list[str] | None
    min_reference_pieces: int
    calibration_pieces: int


@dataclass(frozen=True)
class SelectSettings(Section):
    """``select:`` - how the best candidate is chosen and revalidated (docs/architecture.md#selection)."""

    SECTION = "select"

    rule: str
    min_notes: int
    num_samples_reval: int


# The sections a candidate's results depend on (not ``sweep:``, whose edits only add or remove
# candidates, nor ``select:``): what the rules resolve a winner from and provenance hashes.
CANDIDATE_SECTIONS = ("seed", "data", "model", "pretrain", "lora", "generate", "evaluate")
GEN_DATA_KEYS = ("window_seconds", "vocabulary", "split_pitch", "sequence")  # GenSettings' keys from data:
_TYPES = {"float": float, "int": int, "str": str}

# generate.listening_guidance "auto": the weight measured best for each sequence format (README
# "Generation" and "Real-time server"). A windowed model hears the whole window's comping and needs
# less push; a causal one, hearing only the comping so far, reached 71 % of the real right hand's
# harmonic-fit gain live at 0.5 and 372 % at 1 (semitone-fit gain 72 % / 118 %).
AUTO_LISTENING_GUIDANCE = {"windowed": 0.5, "causal": 1.0}


def listening_guidance_for(value: float | str, sequence: str) -> float:
    """The weight ``generate.listening_guidance`` means for a model of ``sequence`` format."""
    return AUTO_LISTENING_GUIDANCE[sequence] if value == "auto" else float(value)


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
    eos_margin_seconds: float
    vocabulary: str
    split_pitch: int
    sequence: str
    chunk_seconds: float
    lookahead_seconds: float
    listening_guidance: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenSettings:
        """From a (resolved) config: ``generate`` section + ``data.window_seconds/vocabulary/split_pitch/
        sequence``; keys left out take the schema's defaults."""
        c = with_defaults({"generate": dict(config["generate"]), "data": dict(config["data"])})
        return cls._typed(cls._values(c))

    @classmethod
    def of(cls, data: DataSettings, generate: GenerateSettings) -> GenSettings:
        """The view of two typed sections (values typed as :meth:`from_config` types them)."""
        return cls._typed({f.name: getattr(data if f.name in GEN_DATA_KEYS else generate, f.name)
                           for f in fields(cls)})

    @classmethod
    def defaults(cls, **changes: Any) -> GenSettings:
        """The schema's defaults, with ``changes`` (tests, benches, a bare adapter); a changed
        ``sequence`` brings its own "auto" listening guidance."""
        unknown = set(changes) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"GenSettings has no field(s) {', '.join(sorted(unknown))}")
        return cls._typed({**cls._values(with_defaults({})), **changes})

    @staticmethod
    def _values(config: Mapping[str, Any]) -> dict[str, Any]:
        """A filled config's ``generate`` section with the data keys generation shares beside it."""
        return {**config["generate"], **{k: config["data"][k] for k in GEN_DATA_KEYS}}

    @classmethod
    def _typed(cls, values: Mapping[str, Any]) -> GenSettings:
        """Each field's value typed; "auto" listening guidance resolved for the sequence format."""
        values = {**values, "listening_guidance": listening_guidance_for(values["listening_guidance"],
                                                                         values["sequence"])}
        return cls(**{f.name: _TYPES[f.type](values[f.name]) for f in fields(cls)})

    @property
    def window_ticks(self) -> int:
        from .data.tokens import to_tick

        return to_tick(self.window_seconds)

    @property
    def vocab(self):  # -> vocab.Vocabulary (imported here: vocab takes its default from the schema)
        from .data import vocab

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
            lora=_section(LoraSettings, c["lora"], "lora", LoraSettings.OPTIONAL),
            generate=_section(GenerateSettings, c["generate"], "generate"),
            evaluate=_section(EvaluateSettings, c["evaluate"], "evaluate"),
            select=_section(SelectSettings, c["select"], "select"),
            sweep=dict(c.get("sweep") or {}),
        )

    @property
    def gen(self) -> GenSettings:
        """The view generation needs."""
        return GenSettings.of(self.data, self.generate)

    def as_config(self, *names: str) -> dict[str, Any]:
        """The ``names`` sections (default: all) as the config holds them: a provenance hash of this
        is the hash of the config these settings were built from."""
        out: dict[str, Any] = {}
        for name in names or tuple(f.name for f in fields(self)):
            value = getattr(self, name)
            out[name] = value.as_config() if isinstance(value, Section) else copy.deepcopy(value)
        return out

    def candidate_hash(self) -> str:
        """Provenance: the hash of the (wildcard-resolved) sections a candidate's result depends on."""
        return config_hash(self.as_config(*CANDIDATE_SECTIONS))


def defaults() -> Settings:
    """Every setting at the schema's default (the data paths too: config.yaml's are not read)."""
    return Settings.from_config(with_defaults({"data": {"corpus": [], "target": []}}))
