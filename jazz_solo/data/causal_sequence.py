"""The causal sequence format: both hands of a window in one time-ordered event stream.

``data.sequence`` chooses how a training window is laid out:

* ``windowed``: ``BOS cond SEP lead EOS`` - the whole window's comping first, then the lead. A lead
  note at time t has seen the comping of the whole window, its future included, so the model can
  only be run a window at a time, behind the player.
* ``causal``: ``BOS events EOS`` - the piano performance itself, comping and lead events merged by
  time. Every lead event is predicted from the comping up to its own tick, so the same model can
  play along live: comping events are inserted as they arrive and only the lead is sampled between
  them (:mod:`jazz_solo.generation.causal`).

Events of one tick are ordered comping note-offs, comping note-ons, then lead notes (so a lead note
has heard the comping of its own tick). The comping keeps onset/offset events (a live comping note's
end is unknown when it starts; notes still sounding at the window end are closed there); the lead is
``[VELOCITY] NOTE_ON DURATION...`` (:mod:`jazz_solo.data.durations`), so the causal format needs the
duration vocabulary. Each hand keeps its own velocity: a VELOCITY token sets the velocity of the
hand whose NOTE_ON follows it.

The loss covers the lead's events and every TIME_SHIFT (the model decides when it plays; a shift
that would pass the next comping event is cut there at generation); comping tokens are input only.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from . import durations as D
from . import tokens as T
from ..config import schema_default
from .tokens import Note

SEQUENCES = ("windowed", "causal")
DEFAULT = schema_default("data.sequence")  # the schema's default, the only one
OFF, COMPING_ON, LEAD_ON = range(3)  # order of events on one tick


def check_sequence(sequence: str, vocabulary: str) -> None:
    """One line when ``sequence`` is unknown or cannot go with ``vocabulary``."""
    if sequence not in SEQUENCES:
        raise ValueError(f"unknown sequence format {sequence!r} (choose one of: {', '.join(SEQUENCES)})")
    if sequence == "causal" and vocabulary != "duration":
        raise ValueError(f"the causal sequence format needs the duration vocabulary, not {vocabulary!r} "
                         "(its lead notes must carry their length at the onset)")


def _events(cond: Iterable[Note], lead: Iterable[Note], origin: float, end: float | None) -> list[tuple]:
    """(tick, order, pitch, velocity, ticks) of both hands, sorted; ticks = lead duration."""
    limit = None if end is None else T.to_tick(end) - T.to_tick(origin)
    events = []
    for on, off, pitch, vel in T.quantize(cond, origin):
        if limit is not None:
            off = min(off, limit)
            if off <= on:
                continue
        events.append((on, COMPING_ON, pitch, vel, 0))
        events.append((off, OFF, pitch, 0, 0))
    for on, off, pitch, vel in T.quantize(lead, origin):
        events.append((on, LEAD_ON, pitch, vel, off - on))
    events.sort()
    return events


def encode(
    cond: Iterable[Note], lead: Iterable[Note], origin: float = 0.0, end: float | None = None
) -> tuple[list[int], list[bool]]:
    """Events of both hands timed from ``origin`` and, per token, whether it is a lead target
    (lead events and time shifts). Notes are expected to start in [origin, end); callers select."""
    return encode_events(_events(cond, lead, origin, end))


def encode_events(events: Iterable[tuple], now: int = 0, velocity: dict[int, int] | None = None
                  ) -> tuple[list[int], list[bool]]:
    """Tokens of sorted (tick, order, pitch, velocity, duration ticks) events, from tick ``now``
    with each hand's current velocity bin in ``velocity`` (updated in place; -1: none yet)."""
    toks: list[int] = []
    is_lead: list[bool] = []
    velocity = {COMPING_ON: -1, LEAD_ON: -1} if velocity is None else velocity

    def put(new: Sequence[int], lead_target: bool) -> None:
        toks.extend(new)
        is_lead.extend([lead_target] * len(new))

    for tick, order, pitch, vel, ticks in events:
        if tick > now:
            put(T.time_shift_tokens(tick - now), True)
            now = tick
        if order == OFF:
            put([T.NOTE_OFF + pitch], False)
            continue
        b = T.velocity_bin(vel)
        if b != velocity[order]:
            put([T.VELOCITY + b], order == LEAD_ON)
            velocity[order] = b
        if order == COMPING_ON:
            put([T.NOTE_ON + pitch], False)
        else:
            put([T.NOTE_ON + pitch, *D.duration_tokens(ticks)], True)
    return toks, is_lead


def build_example(
    cond: Sequence[Note], lead: Sequence[Note], start: float, seconds: float, max_sequence: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``BOS events EOS`` of one window capped at ``max_sequence`` tokens, its lead-target mask,
    and the number of comping and lead tokens in it."""
    toks, is_lead = encode(cond, lead, start, start + seconds)
    seq = np.asarray([T.BOS, *toks, T.EOS][:max_sequence], dtype=np.int16)
    mask = np.asarray([False, *is_lead, True][:max_sequence], dtype=bool)
    n_lead = int(sum(is_lead))
    return seq, mask, len(toks) - n_lead, n_lead


def decode(tokens: Sequence[int], split_pitch: int, origin: float = 0.0) -> tuple[list[Note], list[Note]]:
    """(comping, lead) notes of a causal stream; the hand of a note is its side of ``split_pitch``.
    The stream is split into each hand's own stream (its events re-timed, its velocity written
    before each note) and read by that hand's decoder (:func:`jazz_solo.data.tokens.decode_tokens`,
    :func:`jazz_solo.data.durations.decode_lead`); a comping note never closed ends at the stream's last
    tick. No note is dropped."""
    now = 0
    default = T.VELOCITY + T.velocity_bin(T.DEFAULT_VELOCITY)
    velocity = {False: default, True: default}  # by hand (is lead): its current VELOCITY token
    pending_velocity: int | None = None
    streams: dict[bool, list[int]] = {False: [], True: []}
    clock = {False: 0, True: 0}  # each hand's own stream time
    hand = False  # of the last NOTE_ON (a DURATION belongs to the lead's; a NOTE_OFF to the comping)

    def put(lead: bool, toks: list[int]) -> None:
        streams[lead].extend(T.time_shift_tokens(now - clock[lead]) + toks)
        clock[lead] = now

    for tok in tokens:
        tok = int(tok)
        if tok == T.EOS:
            break
        if T.is_time_shift(tok):
            now += tok - T.TIME_SHIFT + 1
        elif T.is_velocity(tok):
            pending_velocity = tok
        elif T.is_note_on(tok):
            hand = tok - T.NOTE_ON > split_pitch
            if pending_velocity is not None:
                velocity[hand] = pending_velocity
                pending_velocity = None
            put(hand, [velocity[hand], tok])
        elif T.is_note_off(tok):
            put(False, [tok])
        elif D.is_duration(tok) and hand:
            streams[True].append(tok)
    put(False, [])  # open comping notes close at the stream's end
    return T.decode_tokens(streams[False], origin), D.decode_lead(streams[True], origin)
