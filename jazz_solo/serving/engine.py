"""Real-time serving core: a loaded model + streaming sessions, with the input checks a server needs.

Transport-free (the MCP server and the live-MIDI loop both sit on top of it):

* :class:`Engine` - the model and its default :class:`GenSettings` / split pitch, from an exported
  bundle (``results/best/bundle.json`` + ``adapter/``) or a bare adapter dir.
* :class:`StreamSession` - conditioning arrives in chunks (times relative to the chunk start);
  each :meth:`StreamSession.feed` writes the solo up to the chunk's end through one
  :class:`SoloGenerator`, so the sampling generator, cursor and continuity tail carry over and the
  line continues. Old notes are pruned so a long session keeps constant memory.
* Checks: :func:`check_settings` (unknown keys / absurd values -> one-line ``ValueError``),
  :func:`notes_from_midi_bytes` (size limit, malformed MIDI), :func:`resolve_inside` (allowed folder,
  ``resolve()`` so ``..`` and symlinks cannot escape it).
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import tokens as T
from ..generation.generate import GenSettings, SoloGenerator, StepCallback, conditioning_part, generate_piece
from ..data.midi_io import MidiError, load_notes, split_roles, write_midi
from ..settings import Settings
from ..data.tokens import Note
from ..data.vocab import VOCABULARIES

MAX_MIDI_BYTES = 2 * 1024 * 1024  # a 10-minute dense piano part is ~100 KB; more is a mistake or an attack
MAX_SECONDS = 600.0                # longest conditioning one generate_solo call will render
MAX_CHUNK_SECONDS = 60.0
MAX_PATH_CHARS = 1024

# Setting -> (type, low, high, low inclusive): anything outside is refused before touching the model.
LIMITS: dict[str, tuple[type, float, float, bool]] = {
    "temperature": (float, 0.0, 5.0, False),
    "top_p": (float, 0.0, 1.0, False),
    "top_k": (int, 0, max(v.size for v in VOCABULARIES.values()), True),
    "primer_max_tokens": (int, 1, 2048, True),
    "max_new_tokens": (int, 1, 4096, True),
    "continuity_seconds": (float, 0.0, 30.0, True),
    "listening_guidance": (float, 0.0, 10.0, True),
}


def check_settings(base: GenSettings, overrides: Mapping[str, Any] | None) -> GenSettings:
    """``base`` with ``overrides`` applied; unknown keys, wrong types and absurd values raise ValueError."""
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in LIMITS:
            raise ValueError(f"unknown setting {key!r} (allowed: {', '.join(sorted(LIMITS))})")
        kind, lo, hi, lo_incl = LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValueError(f"setting {key!r} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        value = kind(value)
        if not (value >= lo if lo_incl else value > lo) or value > hi or value != value:
            raise ValueError(f"setting {key!r}={value} out of range ({'[' if lo_incl else '('}{lo}, {hi}])")
        changes[key] = value
    return dataclasses.replace(base, **changes)


def resolve_inside(path: str | Path, allowed_dir: str | Path | None) -> Path:
    """``path`` (relative paths are taken inside the folder) resolved; refused unless inside ``allowed_dir``."""
    if allowed_dir is None:
        raise ValueError("reading files is disabled: start the server with --allowed-dir DIR")
    shown = str(path)[:200]  # a 5,000-character path is not echoed back whole
    if not isinstance(path, str) or "\x00" in path or len(path) > MAX_PATH_CHARS:
        raise ValueError(f"{shown}: not a usable path (at most {MAX_PATH_CHARS} characters, no NUL)")
    try:
        root = Path(allowed_dir).resolve()
        target = (root / path).resolve()  # an absolute `path` replaces root; resolve() follows .. and symlinks
        inside = target == root or root in target.parents
        is_file = inside and target.is_file()
        size = target.stat().st_size if is_file else 0
    except (OSError, RuntimeError) as exc:  # symlink loop (RuntimeError in 3.11), name too long, ...
        raise ValueError(f"{shown}: cannot be resolved ({type(exc).__name__})") from None
    if not inside:
        raise ValueError(f"{shown}: outside the allowed folder {root}")
    if not is_file:
        raise ValueError(f"{shown}: no such file in the allowed folder")
    if size > MAX_MIDI_BYTES:
        raise ValueError(f"{shown}: larger than the {MAX_MIDI_BYTES} byte MIDI limit")
    return target


def check_seed(seed: Any) -> int:
    """A seed torch can take (0 <= seed < 2**63); 2**70 would fail deep inside with an overflow."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {str(seed)[:40]}")
    return seed


def notes_from_midi_bytes(data: bytes, name: str = "midi") -> list[Note]:
    """Notes of an in-memory MIDI file; oversize, malformed or empty input raises ValueError."""
    if len(data) > MAX_MIDI_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes, larger than the {MAX_MIDI_BYTES} byte MIDI limit")
    if not data.startswith(b"MThd"):
        raise ValueError(f"{name}: not a standard MIDI file (no MThd header)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.mid"
        path.write_bytes(data)
        try:
            return load_notes(path)
        except MidiError as exc:
            raise ValueError(f"{name}: {str(exc).split(': ', 1)[-1]}") from None
        except Exception as exc:  # parsers raise all sorts on hostile bytes
            raise ValueError(f"{name}: malformed MIDI ({type(exc).__name__})") from None


def midi_bytes(tracks: Mapping[str, Sequence[Note]]) -> bytes:
    """A standard MIDI file (one named track per entry) as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_midi(Path(tmp) / "out.mid", tracks).read_bytes()


@dataclasses.dataclass
class Engine:
    """The loaded model and its defaults. One lock: generation calls run one at a time."""

    model: torch.nn.Module
    settings: GenSettings
    split_pitch: int
    source: str
    info: dict[str, Any]

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    @classmethod
    def load(
        cls, bundle_dir: str | Path | None = None, adapter_dir: str | Path | None = None, settings: Settings | None = None
    ) -> "Engine":
        """From ``bundle_dir`` (bundle.json + adapter/) or a bare ``adapter_dir``; what the bundle
        does not record comes from ``settings`` (default: config.yaml's)."""
        from ..artifacts import verify_adapter, verify_base
        from ..config import load_config
        from ..training.model import MUST_MATCH, adapter_base_dir, load_for_inference, recorded_data

        settings = settings or Settings.from_config(load_config())
        data, generate = settings.data, settings.generate
        info: dict[str, Any] = {}
        if adapter_dir is None:
            bundle_dir = Path(bundle_dir or "results/best")
            bundle_json = bundle_dir / "bundle.json"
            if not bundle_json.is_file():
                raise FileNotFoundError(f"{bundle_json}: no exported bundle (run the sweep, or pass --adapter DIR)")
            try:
                info = json.loads(bundle_json.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                raise ValueError(f"{bundle_json}: unreadable or truncated (export the bundle again)") from None
            data, generate = data.updated(info.get("data", {})), generate.updated(info.get("generate", {}))
            adapter_dir = bundle_dir / info.get("paths", {}).get("adapter", "adapter")
        verify_adapter(adapter_dir)  # truncated weights: one line naming the file, not a SafetensorError
        verify_base(adapter_base_dir(adapter_dir))
        model = load_for_inference(adapter_dir, device="cpu")
        # The model's own data settings win over config.yaml's defaults (a bundle records the same).
        data = data.updated({k: v for k, v in recorded_data(model).items() if k in MUST_MATCH})
        params = sum(p.numel() for p in model.parameters())
        info = {"adapter": str(adapter_dir), "parameters": params, "candidate": info.get("candidate"),
                "vocabulary": data.vocabulary, "sequence": data.sequence}
        return cls(model, GenSettings.of(data, generate), int(data.split_pitch), str(adapter_dir), info)

    @property
    def causal(self) -> bool:
        """Trained on the causal sequence format: it can follow the comping as it is heard."""
        return self.settings.sequence == "causal"

    def describe(self) -> dict[str, Any]:
        return {
            **self.info,
            "stream_mode": "causal" if self.causal else "chunk-behind",
            "split_pitch": self.split_pitch,
            "defaults": dataclasses.asdict(self.settings),
            "limits": {k: {"min": lo, "max": hi} for k, (_, lo, hi, _) in LIMITS.items()},
            "max_midi_bytes": MAX_MIDI_BYTES,
            "max_seconds": MAX_SECONDS,
        }

    def generate_solo(
        self, notes: Sequence[Note], settings: Mapping[str, Any] | None = None, seed: int = 0,
        max_seconds: float | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        """Two-track MIDI ("comping", "solo") over the conditioning part of ``notes``, and a summary."""
        gen = check_settings(self.settings, settings)
        cap = MAX_SECONDS if max_seconds is None else float(max_seconds)
        if not 0 < cap <= MAX_SECONDS:
            raise ValueError(f"max_seconds must be in (0, {MAX_SECONDS}], got {max_seconds}")
        cond, seconds = conditioning_part(notes, self.split_pitch, cap)
        if not cond:
            raise ValueError(f"no conditioning notes at or below the split pitch {self.split_pitch}")
        with self.lock:
            res = generate_piece(self.model, cond, seconds, gen, [int(seed)])
        summary = {"seconds": round(seconds, 3), "solo_notes": len(res.solos[0]), "wall_s": round(res.wall_s, 3)}
        return midi_bytes({"comping": cond, "solo": res.solos[0]}), summary


class StreamSession:
    """Chunks of conditioning in, the solo to play during the next chunk out, one continuing line
    (the windowed model: *chunk-behind*).

    A chunk's notes are timed from the chunk start (as a client or a MIDI clock sees them). The
    solo returned is the one written over this chunk's comping, timed from its start, to be played
    from its end: every note is heard a chunk after the comping it was written over. Notes above
    the split pitch in a chunk are ignored.
    """

    mode = "chunk-behind"

    def __init__(self, engine: Engine, settings: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        self.engine = engine
        self.gen = SoloGenerator(engine.model, check_settings(engine.settings, settings), [int(seed)])
        self.now = 0.0                 # session seconds at the start of the next chunk
        self.cond: list[Note] = []
        self.chunks = 0

    def feed(
        self, chunk_notes: Sequence[Note], chunk_seconds: float, callback: StepCallback | None = None
    ) -> list[Note]:
        """Add one chunk (``chunk_seconds`` long) and return the solo notes written for it.

        ``callback`` is passed to :func:`generate_window` (per-step tokens: time to first note)."""
        if not 0 < chunk_seconds <= MAX_CHUNK_SECONDS:
            raise ValueError(f"chunk_seconds must be in (0, {MAX_CHUNK_SECONDS}], got {chunk_seconds}")
        start, end = self.now, self.now + float(chunk_seconds)
        cond, _ = split_roles(chunk_notes, self.engine.split_pitch)
        self.cond.extend(Note(n.start + start, n.end + start, n.pitch, n.velocity) for n in cond if n.start < chunk_seconds)
        new: list[Note] = []
        with self.engine.lock:
            while self.gen.cursor < T.to_tick(end):
                new.extend(self.gen.next_window(self.cond, until=end, callback=callback)[0])
        self.now = end
        self.chunks += 1
        self._prune()
        return [Note(n.start - start, n.end - start, n.pitch, n.velocity) for n in new]

    def _prune(self) -> None:
        """Keep only what the next window can use (one window back): constant memory over a long set."""
        horizon = self.now - self.gen.settings.window_seconds
        self.cond = [n for n in self.cond if n.end >= horizon or n.start >= horizon]
        self.gen.solos[0] = [n for n in self.gen.solos[0] if n.start >= horizon]
        self.gen.streams[0] = []
        self.gen.window_log.clear()


class CausalStreamSession:
    """The same interface over a causal model (:class:`jazz_solo.generation.causal.CausalSoloist`): after a
    chunk, the solo for the *next* ``chunk_seconds`` is decided, having heard the comping up to
    the chunk's end, and returned timed from that end (the moment to start playing it). The first
    chunk is a lead-in: the solo the model wrote over it is already past, so it is not returned.

    Comping notes whose end lies past the chunk are held until their end is reached, as a live
    note-off would be; a note cut at the chunk end by the client simply ends there.
    """

    mode = "causal"

    def __init__(self, engine: Engine, settings: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        from ..generation.causal import CausalSoloist

        self.engine = engine
        self.soloist = CausalSoloist(engine.model, check_settings(engine.settings, settings), engine.split_pitch,
                                     int(seed))
        self.now = 0.0
        self.chunks = 0
        self._later: list[Any] = []  # note-offs known ahead of their time (a note longer than its chunk)

    def feed(self, chunk_notes: Sequence[Note], chunk_seconds: float, callback: StepCallback | None = None) -> list[Note]:
        """Hear one chunk (notes timed from its start); return the solo of the next chunk_seconds,
        timed from this chunk's end. ``callback`` is accepted for the interface and unused."""
        from ..generation.causal import comping_events

        if not 0 < chunk_seconds <= MAX_CHUNK_SECONDS:
            raise ValueError(f"chunk_seconds must be in (0, {MAX_CHUNK_SECONDS}], got {chunk_seconds}")
        start, end = self.now, self.now + float(chunk_seconds)
        cond, _ = split_roles(chunk_notes, self.engine.split_pitch)
        events = self._later + comping_events(
            Note(n.start + start, n.end + start, n.pitch, n.velocity) for n in cond if n.start < chunk_seconds)
        events.sort(key=lambda e: e.time)
        self._later = [e for e in events if e.time > end]
        with self.engine.lock:
            self.soloist.hear(e for e in events if e.time <= end)
            new = self.soloist.advance(end, end + float(chunk_seconds))
        self.now = end
        self.chunks += 1
        # A note whose length was still being written when the last chunk's decision stopped comes
        # out now, its onset passed: it starts at once (0) if it still sounds, as a late MIDI note would.
        return [Note(max(0.0, n.start - end), n.end - end, n.pitch, n.velocity) for n in new
                if n.end > end and self.chunks > 1]


def open_stream(engine: Engine, settings: Mapping[str, Any] | None = None,
                seed: int = 0) -> StreamSession | CausalStreamSession:
    """The streaming session the engine's model can play: causal when trained causal, else chunk-behind."""
    return (CausalStreamSession if engine.causal else StreamSession)(engine, settings, seed)
