"""Event vocabulary and exact encode/decode (docs/architecture.md#token-format).

Ids 0-389 are those of the project's first token format, so its token files stay readable:

====== =====================================================
ids    event
====== =====================================================
0-127  NOTE_ON(pitch)
128-255 NOTE_OFF(pitch)
256-355 TIME_SHIFT of (k+1)*10 ms, k = id-256 (longer gaps repeat)
356-387 VELOCITY bin v // 4 (decoded as bin*4 + 2)
388    EOS
389    PAD
390    BOS
391    SEP (end of conditioning, start of lead)
====== =====================================================

Times are quantised to the 10 ms grid from *absolute* times (``round(t * 100)``), never by
accumulating per-event rounding, so a round trip keeps onsets/offsets within 10 ms.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

NOTE_ON = 0
NOTE_OFF = 128
TIME_SHIFT = 256
N_TIME_SHIFT = 100
VELOCITY = 356
N_VELOCITY = 32
EOS = 388
PAD = 389
BOS = 390
SEP = 391
VOCAB_SIZE = 392

TICKS_PER_SECOND = 100  # the 10 ms grid
DEFAULT_VELOCITY = 64


class Note(NamedTuple):
    """One note in seconds. ``velocity`` is MIDI 1-127."""

    start: float
    end: float
    pitch: int
    velocity: int


def to_tick(seconds: float) -> int:
    """Absolute time -> grid tick (10 ms)."""
    return int(round(seconds * TICKS_PER_SECOND))


def velocity_bin(velocity: int) -> int:
    return min(N_VELOCITY - 1, max(0, int(velocity) // 4))


def bin_velocity(bin_index: int) -> int:
    return bin_index * 4 + 2


def is_note_on(tok: int) -> bool:
    return NOTE_ON <= tok < NOTE_OFF


def is_note_off(tok: int) -> bool:
    return NOTE_OFF <= tok < TIME_SHIFT


def is_time_shift(tok: int) -> bool:
    return TIME_SHIFT <= tok < VELOCITY


def is_velocity(tok: int) -> bool:
    return VELOCITY <= tok < EOS


def time_shift_tokens(ticks: int) -> list[int]:
    """Tokens for a gap of ``ticks`` grid steps (1 s max per token, repeated)."""
    out = []
    while ticks > 0:
        step = min(ticks, N_TIME_SHIFT)
        out.append(TIME_SHIFT + step - 1)
        ticks -= step
    return out


def quantize(notes: Iterable[Note], origin: float = 0.0) -> list[tuple[int, int, int, int]]:
    """Notes -> (on_tick, off_tick, pitch, velocity) relative to ``origin``.

    Every note keeps at least one tick of duration; overlaps of one pitch are resolved by
    :func:`resolve_overlaps`.
    """
    base = to_tick(origin)
    raw = []
    for n in notes:
        on = to_tick(n.start) - base
        off = max(to_tick(n.end) - base, on + 1)
        raw.append((on, off, int(n.pitch), int(n.velocity)))
    return resolve_overlaps(raw)


def resolve_overlaps(raw: Iterable[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """(on, off, pitch, velocity) ticks made playable as MIDI, sorted by (on, pitch).

    A re-strike of a pitch that is still sounding ends the earlier note at the new onset (MIDI
    cannot hold one pitch twice); two notes of one pitch on the same tick collapse into the longer.
    """
    ordered = sorted(raw, key=lambda q: (q[2], q[0], -q[1]))
    out: list[tuple[int, int, int, int]] = []
    for q in ordered:
        if out and out[-1][2] == q[2]:
            prev = out[-1]
            if prev[0] == q[0]:
                continue  # same pitch, same tick: keep the longer (sorted first)
            if prev[1] > q[0]:
                out[-1] = (prev[0], q[0], prev[2], prev[3])
        out.append(q)
    out.sort(key=lambda q: (q[0], q[2]))
    return out


def encode_notes(notes: Iterable[Note], origin: float = 0.0, end: float | None = None) -> list[int]:
    """Encode notes as events timed from ``origin``.

    With ``end`` given, notes still sounding at ``end`` are closed there (a window's edge).
    Only notes whose quantised onset is >= ``origin`` and < ``end`` are expected; callers select.
    """
    quantized = quantize(notes, origin)
    limit = None if end is None else to_tick(end) - to_tick(origin)
    events: list[tuple[int, int, int, int]] = []  # (tick, order, pitch, velocity); offs first
    for on, off, pitch, vel in quantized:
        if limit is not None:
            off = min(off, limit)
            if off <= on:
                continue
        events.append((on, 1, pitch, vel))
        events.append((off, 0, pitch, vel))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    tokens: list[int] = []
    now = 0
    current_bin = -1
    for tick, order, pitch, vel in events:
        if tick > now:
            tokens.extend(time_shift_tokens(tick - now))
            now = tick
        if order == 0:
            tokens.append(NOTE_OFF + pitch)
        else:
            b = velocity_bin(vel)
            if b != current_bin:
                tokens.append(VELOCITY + b)
                current_bin = b
            tokens.append(NOTE_ON + pitch)
    return tokens


def decode_tokens(tokens: Sequence[int], origin: float = 0.0, end: float | None = None) -> list[Note]:
    """Decode events to notes, never dropping an opened note.

    Decoding stops at EOS; BOS/SEP/PAD are skipped. A NOTE_OFF of a silent pitch is ignored,
    a second NOTE_ON of a sounding pitch closes the first one there, and notes left open are
    closed at ``end`` (if given and later) or at the last time reached (at least one tick).
    """
    now = 0
    vel = DEFAULT_VELOCITY
    sounding: dict[int, tuple[int, int]] = {}
    done: list[tuple[int, int, int, int]] = []
    for tok in tokens:
        tok = int(tok)
        if tok == EOS:
            break
        if is_time_shift(tok):
            now += tok - TIME_SHIFT + 1
        elif is_velocity(tok):
            vel = bin_velocity(tok - VELOCITY)
        elif is_note_on(tok):
            pitch = tok - NOTE_ON
            if pitch in sounding:
                on, v = sounding.pop(pitch)
                done.append((on, max(now, on + 1), pitch, v))
            sounding[pitch] = (now, vel)
        elif is_note_off(tok):
            pitch = tok - NOTE_OFF
            if pitch in sounding:
                on, v = sounding.pop(pitch)
                done.append((on, max(now, on + 1), pitch, v))
    close_at = now if end is None else max(now, to_tick(end) - to_tick(origin))
    for pitch, (on, v) in sounding.items():
        done.append((on, max(close_at, on + 1), pitch, v))
    done.sort(key=lambda q: (q[0], q[2]))
    step = 1.0 / TICKS_PER_SECOND
    base = to_tick(origin)
    return [Note((base + on) * step, (base + off) * step, pitch, v) for on, off, pitch, v in done]


def count_grammar_errors(tokens: Sequence[int]) -> dict[str, int]:
    """Count impossible events in a raw lead token stream (up to EOS).

    ``orphan_note_off``: NOTE_OFF of a pitch not sounding; ``duplicate_note_on``: NOTE_ON of a
    sounding pitch; ``unclosed``: notes still open at the end; ``misplaced_special``: BOS/SEP/PAD.
    """
    sounding: set[int] = set()
    errors = {"orphan_note_off": 0, "duplicate_note_on": 0, "unclosed": 0, "misplaced_special": 0}
    for tok in tokens:
        tok = int(tok)
        if tok == EOS:
            break
        if tok in (BOS, SEP, PAD):
            errors["misplaced_special"] += 1
        elif is_note_on(tok):
            if tok in sounding:
                errors["duplicate_note_on"] += 1
            sounding.add(tok)
        elif is_note_off(tok):
            pitch_on = tok - NOTE_OFF + NOTE_ON
            if pitch_on in sounding:
                sounding.discard(pitch_on)
            else:
                errors["orphan_note_off"] += 1
    errors["unclosed"] = len(sounding)
    return errors


def transpose_tokens(tokens: Sequence[int], semitones: int) -> list[int] | None:
    """Shift every NOTE_ON/NOTE_OFF by ``semitones``; None if a pitch leaves 0-127."""
    out = []
    for tok in tokens:
        tok = int(tok)
        if tok < TIME_SHIFT:
            base = NOTE_ON if tok < NOTE_OFF else NOTE_OFF
            pitch = tok - base + semitones
            if not 0 <= pitch <= 127:
                return None
            out.append(base + pitch)
        else:
            out.append(tok)
    return out


def transpose_array(seq: np.ndarray, semitones: int) -> np.ndarray | None:
    """Vectorised :func:`transpose_tokens` for a token array (the data stage's hot loop).

    Specials (BOS/SEP/EOS/PAD) and non-note events are left as they are. None if a pitch
    leaves 0-127.
    """
    seq = np.asarray(seq)
    is_note = seq < TIME_SHIFT
    pitch = seq[is_note] % 128 + semitones  # NOTE_ON and NOTE_OFF both hold the pitch as id % 128
    if pitch.size and (pitch.min() < 0 or pitch.max() > 127):
        return None
    out = seq.copy()
    out[is_note] += semitones
    return out


def move_pitches(seq: np.ndarray, semitones: int, where: np.ndarray) -> np.ndarray:
    """``seq`` with the NOTE_ON/NOTE_OFF tokens selected by ``where`` moved ``semitones`` (kept in
    0-127, so none is lost: a "wrong comping" for listening measures, not a transposition)."""
    seq = np.asarray(seq)
    pitch = where & (seq < TIME_SHIFT)
    moved = np.clip(seq % 128 + semitones, 0, 127) + NOTE_OFF * (seq >= NOTE_OFF)
    return np.where(pitch, moved, seq).astype(seq.dtype)
