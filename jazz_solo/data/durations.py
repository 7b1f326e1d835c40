"""The duration vocabulary's lead events: a note is described once, at its onset, with its length.

With NOTE_ON/NOTE_OFF events a small model must remember every sounding pitch to close it, and
generated solos hang notes until the window edge closes them. Here a lead note is

    [TIME_SHIFT...] [VELOCITY] NOTE_ON(pitch) DURATION...

so its end is decided when it starts and it cannot hang (the approach of the Anticipatory Music
Transformer's triples, Aria and MidiTok's TSD). The ids 0-391 are shared with the performance
vocabulary (:mod:`jazz_solo.data.tokens`); DURATION tokens follow them:

* 392-491: exact durations of 1-100 ticks (10 ms ... 1 s, the time grid);
* then geometric bins from 1 s to 30 s, each 8 % longer than the one before, so rounding to the
  nearest bin (in log space) is within 4 %;
* a note longer than the top bin repeats it and adds the remainder (durations add up), so no
  bin caps a duration.

The conditioning (comping) keeps onset/offset events in both vocabularies: a live comping note's
end is unknown when it starts (README, "Vocabularies").
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from . import tokens as T
from .tokens import Note

DURATION = T.VOCAB_SIZE            # first duration id: 392
FINE_TICKS = 100                   # 1..100 ticks are exact
RATIO = 1.08                       # geometric step above 1 s: rounding error <= sqrt(1.08) - 1 < 4 %
TOP_TICKS = 3000                   # 30 s: longer notes repeat the top bin
DEFAULT_TICKS = 25                 # a note whose duration never came (a cut stream): 250 ms


def _bins() -> tuple[int, ...]:
    out = list(range(1, FINE_TICKS + 1))
    k = 1
    while out[-1] < TOP_TICKS:
        out.append(min(TOP_TICKS, max(out[-1] + 1, round(FINE_TICKS * RATIO**k))))
        k += 1
    return tuple(out)


BIN_TICKS = _bins()
N_DURATION = len(BIN_TICKS)
TOP = DURATION + N_DURATION - 1
VOCAB_SIZE = DURATION + N_DURATION
# Upper edges of the bins in log space (geometric midpoints), for nearest-bin rounding.
_EDGES = [math.sqrt(a * b) for a, b in zip(BIN_TICKS, BIN_TICKS[1:])]


def is_duration(tok: int) -> bool:
    return DURATION <= tok < VOCAB_SIZE


def bin_index(ticks: int) -> int:
    """The bin nearest to ``ticks`` (1 <= ticks <= TOP_TICKS), exact up to 1 s."""
    if ticks <= FINE_TICKS:
        return max(1, int(ticks)) - 1
    return min(bisect.bisect_left(_EDGES, ticks), N_DURATION - 1)


def duration_tokens(ticks: int) -> list[int]:
    """DURATION tokens whose ticks add up to ``ticks`` (>= 1): top bins, then the nearest bin."""
    ticks = max(1, int(ticks))
    out = []
    while ticks > TOP_TICKS:
        out.append(TOP)
        ticks -= TOP_TICKS
    out.append(DURATION + bin_index(ticks))
    return out


def encode_lead(notes: Iterable[Note], origin: float = 0.0, end: float | None = None) -> list[int]:
    """Lead notes as onset events with durations, timed from ``origin``.

    ``end`` is accepted for symmetry with the performance encoder and ignored: a note crossing
    the window end keeps its real duration. Re-strikes of a sounding pitch shorten the earlier
    note to the new onset (see :func:`jazz_solo.data.tokens.quantize`).
    """
    tokens: list[int] = []
    now = 0
    current_bin = -1
    for on, off, pitch, vel in T.quantize(notes, origin):
        if on > now:
            tokens.extend(T.time_shift_tokens(on - now))
            now = on
        b = T.velocity_bin(vel)
        if b != current_bin:
            tokens.append(T.VELOCITY + b)
            current_bin = b
        tokens.append(T.NOTE_ON + pitch)
        tokens.extend(duration_tokens(off - on))
    return tokens


def _parse(tokens: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(on, off, pitch, velocity) ticks of a lead stream, up to EOS; a note missing its duration
    gets DEFAULT_TICKS; stray NOTE_OFF / DURATION tokens and specials are skipped."""
    now, vel = 0, T.DEFAULT_VELOCITY
    notes: list[list[int]] = []
    open_note: list[int] | None = None  # the note whose DURATION tokens are being read
    for tok in tokens:
        tok = int(tok)
        if tok == T.EOS:
            break
        if is_duration(tok):
            if open_note is not None:
                open_note[1] += BIN_TICKS[tok - DURATION]
            continue
        if open_note is not None and open_note[1] == open_note[0]:
            open_note[1] += DEFAULT_TICKS
        open_note = None
        if T.is_time_shift(tok):
            now += tok - T.TIME_SHIFT + 1
        elif T.is_velocity(tok):
            vel = T.bin_velocity(tok - T.VELOCITY)
        elif T.is_note_on(tok):
            open_note = [now, now, tok - T.NOTE_ON, vel]
            notes.append(open_note)
    if open_note is not None and open_note[1] == open_note[0]:
        open_note[1] += DEFAULT_TICKS
    return [tuple(n) for n in notes]  # type: ignore[misc]


def decode_lead(tokens: Sequence[int], origin: float = 0.0, end: float | None = None) -> list[Note]:
    """Notes of a lead stream, never dropping one: each keeps its encoded duration (``end`` is
    ignored, like in :func:`encode_lead`); a re-strike of a sounding pitch shortens the earlier
    note to the new onset, as MIDI must; two onsets of a pitch on one tick keep the longer."""
    base = T.to_tick(origin)
    step = 1.0 / T.TICKS_PER_SECOND
    resolved = T.resolve_overlaps(_parse(tokens))
    return [Note((base + on) * step, (base + off) * step, pitch, v) for on, off, pitch, v in resolved]


def count_grammar_errors(tokens: Sequence[int]) -> dict[str, int]:
    """Impossible events in a raw duration-vocabulary lead stream (up to EOS).

    ``missing_duration``: a NOTE_ON not followed by a DURATION; ``orphan_duration``: a DURATION
    after anything but a NOTE_ON or a top-bin DURATION; ``note_off_in_lead``: NOTE_OFF tokens
    (the lead has none here); ``duplicate_note_on``: a pitch struck twice on one tick;
    ``misplaced_special``: BOS/SEP/PAD.
    """
    errors = dict.fromkeys(
        ("missing_duration", "orphan_duration", "note_off_in_lead", "duplicate_note_on", "misplaced_special"), 0
    )
    prev = None
    fresh: set[int] = set()
    for tok in tokens:
        tok = int(tok)
        if tok == T.EOS:
            break
        if prev is not None and T.is_note_on(prev) and not is_duration(tok):
            errors["missing_duration"] += 1
        if is_duration(tok) and not (prev is not None and (T.is_note_on(prev) or prev == TOP)):
            errors["orphan_duration"] += 1
        if tok in (T.BOS, T.SEP, T.PAD):
            errors["misplaced_special"] += 1
        elif T.is_note_off(tok):
            errors["note_off_in_lead"] += 1
        elif T.is_time_shift(tok):
            fresh.clear()
        elif T.is_note_on(tok):
            errors["duplicate_note_on"] += tok in fresh
            fresh.add(tok)
        prev = tok
    if prev is not None and T.is_note_on(prev):
        errors["missing_duration"] += 1
    return errors
