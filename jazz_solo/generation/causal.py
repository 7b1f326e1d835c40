"""Causal generation: a solo that follows the comping as it arrives (``data.sequence: causal``).

The model reads one time-ordered stream of both hands (:mod:`jazz_solo.data.causal_sequence`). Comping
events are inserted at their times as they are heard; between them the model samples only lead
events and time shifts, under the duration grammar and the lead's register. A sampled time shift
that would pass the next comping event already heard is cut there, and the model chooses again
after hearing it. A shift reaching past the ``horizon`` the caller allows stays *pending*, not in
the stream, until the horizon moves on or a comping event cuts it, so the stream never runs ahead of
the horizon and a pending decision is never redrawn.

The same :class:`CausalSoloist` serves offline generation (:func:`offline_causal_solo`: a whole
conditioning file whose arrival is simulated chunk by chunk) and live play (the MCP stream and the
MIDI ports call :meth:`CausalSoloist.hear` and :meth:`CausalSoloist.advance` as comping arrives),
so offline metrics describe live behaviour: given the same chunks, the two produce the same notes.

With ``horizon`` ahead of the comping heard (a lookahead, so that notes are decided before they
must sound), comping that arrives for a time the stream has passed is inserted at the stream's
present, late by at most the lookahead. When the stream reaches a window's length or the model's
sequence length, it restarts from ``BOS`` with the last half window of both hands re-encoded (how
the training windows begin), so the model never runs past what it was trained on.
"""
from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..data import durations as D
from ..data import tokens as T
from ..data.causal_sequence import COMPING_ON, LEAD_ON, OFF, encode_events
from .guidance import guided_decoder
from .sampling import DurationGrammar, lead_register, process_logits, sample
from ..data.tokens import Note

_ENDLESS = 1 << 40  # the grammar's time budget: a causal stream has no window end
_MARGIN = 16        # tokens kept free below the model's sequence length before a restart


@dataclass(frozen=True)
class CompingEvent:
    """One comping event as it is heard; a note's end is a separate event (velocity 0)."""

    time: float      # seconds on the session clock
    pitch: int
    velocity: int    # 1-127: note on; 0: note off


def comping_events(notes: Iterable[Note]) -> list[CompingEvent]:
    """The on/off events of known comping notes, in the order they would be heard."""
    events = []
    for n in notes:
        events.append(CompingEvent(n.start, int(n.pitch), max(1, int(n.velocity))))
        events.append(CompingEvent(n.end, int(n.pitch), 0))
    return sorted(events, key=lambda e: (T.to_tick(e.time), e.velocity > 0, e.pitch))


@dataclass
class CausalStats:
    """What a soloist did: tokens it sampled and the probability the masks removed (summed)."""

    sampled: int = 0
    prompt_tokens: int = 0       # tokens fed by restarts (prefills)
    comping_tokens: int = 0      # comping tokens inserted into the stream
    restarts: int = 0
    masked_register: float = 0.0
    masked_grammar: float = 0.0
    lead_tokens: list[int] = field(default_factory=list)  # the sampled lead stream, for grammar checks


class CausalSoloist:
    """One solo over comping that arrives in time order (see the module doc).

    ``notes`` holds every lead note decided so far (absolute seconds) and ``heard_until`` the time
    up to which the comping had been heard when each was decided.
    """

    def __init__(self, model: torch.nn.Module, settings, split_pitch: int | None = None, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        from ..config import schema_default
        from ..training.model import recorded_data

        del device  # the model's own device is used (make_decoder reads it)
        self.settings = settings
        self.split_pitch = int(settings.split_pitch if split_pitch is None else split_pitch)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.decoder = guided_decoder(model, settings.listening_guidance, self.split_pitch)
        self.grammar = DurationGrammar(1, _ENDLESS, lead_register(self.split_pitch))
        self.out_of_register = torch.from_numpy(self.grammar.out_of_register())
        # a model recorded before max_sequence was: trained on the schema's default
        self.max_tokens = int(recorded_data(model).get("max_sequence", schema_default("data.max_sequence")))
        self.window_ticks = settings.window_ticks
        self.stats = CausalStats()
        self.notes: list[Note] = []
        self.heard_until: list[float] = []
        self._queue: list[tuple[int, int, int, int]] = []    # heard, not yet in the stream: (tick, order, pitch, vel)
        self._history: list[tuple[int, int, int, int, int]] = []  # in the stream: (tick, order, pitch, vel, ticks)
        self._sounding: dict[int, int] = {}                   # comping pitch -> onset tick, opened in this context
        self._velocity = {COMPING_ON: -1, LEAD_ON: -1}
        self._open: list[int] | None = None                   # lead note being written: [onset, pitch, vel, ticks]
        self._lead_velocity = T.DEFAULT_VELOCITY
        self._pending: int | None = None                      # sampled time shift (ticks) not yet in the stream
        self._lead_due = False                                # a kept shift ended on a lead event (_try_shift)
        self._on_note: Callable[[Note], None] | None = None   # advance's caller, told of each decided note
        self.now = 0        # the stream's present (tick)
        self.origin = 0     # tick of the current context's BOS
        self._length = 0
        self._logits = torch.zeros(0)
        self._known = 0.0
        self._restart(0)

    # -- the stream ---------------------------------------------------------------------------
    def _feed(self, toks: Sequence[int]) -> None:
        for tok in toks:
            self._logits = self.decoder.step(torch.tensor([int(tok)]))[0]
        self._length += len(toks)

    def _context(self, origin: int) -> list[int]:
        """``BOS`` + the stream since ``origin`` re-encoded from there (a comping note-off whose
        onset is earlier is left out, as in a training window)."""
        kept, opened = [], set()
        for tick, order, pitch, vel, ticks in self._history:
            if tick < origin:
                continue
            if order == OFF and pitch not in opened:
                continue
            if order == COMPING_ON:
                opened.add(pitch)
            kept.append((tick - origin, order, pitch, vel, ticks))
        self._velocity = {COMPING_ON: -1, LEAD_ON: -1}
        toks, _ = encode_events(kept, 0, self._velocity)
        last = kept[-1][0] if kept else 0
        self._sounding = {p: on for p, on in self._sounding.items() if on >= origin}
        return [T.BOS, *toks, *T.time_shift_tokens(self.now - origin - last)]

    def _restart(self, origin: int) -> None:
        prompt = self._context(origin)
        while len(prompt) > self.max_tokens // 2 and origin < self.now:  # dense music: keep less
            origin = min(self.now, origin + T.TICKS_PER_SECOND // 2)
            prompt = self._context(origin)
        self.origin = origin
        self._history = [h for h in self._history if h[0] >= origin]
        self._logits = self.decoder.prefill(prompt, 1)[0]
        self._length = len(prompt)
        self.stats.prompt_tokens += len(prompt)
        self.stats.restarts += 1

    def _maybe_restart(self) -> None:
        full = self._length >= self.max_tokens - _MARGIN
        if full or self.now - self.origin >= self.window_ticks:
            self._restart(max(0, self.now - self.window_ticks // 2))

    def _shift(self, ticks: int) -> None:
        for tok in T.time_shift_tokens(ticks):  # more than 1 s: repeated shifts, as in training
            self.grammar.advance(torch.tensor([tok]))
            self._feed([tok])
        self.now += ticks

    # -- comping -------------------------------------------------------------------------------
    def hear(self, events: Iterable[CompingEvent]) -> None:
        """Comping events as they arrive (time-ordered; an event for a time the stream has passed
        is inserted at its present)."""
        for e in events:
            order = OFF if int(e.velocity) <= 0 else COMPING_ON
            bisect.insort(self._queue, (T.to_tick(e.time), order, int(e.pitch), int(e.velocity)))

    def _drop_stray_offs(self) -> None:
        """Note-offs at the head of the queue whose note is not in the stream (released before the
        context began, or never heard) become no token: they must not cut a shift."""
        while self._queue and self._queue[0][1] == OFF and self._queue[0][2] not in self._sounding and not any(
                q[1] == COMPING_ON and q[2] == self._queue[0][2] for q in self._queue):
            self._queue.pop(0)

    def _insert_heard(self) -> None:
        """Every heard event due by the present goes into the stream, at the present."""
        while self._queue and self._queue[0][0] <= self.now:
            _, order, pitch, vel = self._queue.pop(0)
            toks: list[int] = []
            if pitch in self._sounding:  # an off, or a re-strike (MIDI closes the earlier note first)
                toks.append(T.NOTE_OFF + pitch)
                self._history.append((self.now, OFF, pitch, 0, 0))
                del self._sounding[pitch]
            if order == COMPING_ON:
                b = T.velocity_bin(vel)
                if b != self._velocity[COMPING_ON]:
                    toks.append(T.VELOCITY + b)
                    self._velocity[COMPING_ON] = b
                toks.append(T.NOTE_ON + pitch)
                self._history.append((self.now, COMPING_ON, pitch, vel, 0))
                self._sounding[pitch] = self.now
            self._feed(toks)
            self.stats.comping_tokens += len(toks)
            self._lead_due = self._lead_due and not toks

    # -- the lead ------------------------------------------------------------------------------
    def _close_note(self, new_notes: list[Note]) -> None:
        if self._open is None:
            return
        onset, pitch, vel, ticks = self._open
        self._open = None
        ticks = ticks or D.DEFAULT_TICKS
        self._history.append((onset, LEAD_ON, pitch, vel, ticks))
        step = 1.0 / T.TICKS_PER_SECOND
        note = Note(onset * step, (onset + ticks) * step, pitch, vel)
        self.notes.append(note)
        self.heard_until.append(self._known)
        new_notes.append(note)
        if self._on_note is not None:
            self._on_note(note)

    def _sample(self, record: bool = True) -> int:
        """The next lead token (or time shift) under the masks; ``record``: it goes into the stream."""
        allowed = self.grammar.allowed([0])
        allowed[:, T.EOS] = False  # the stream has no end: the session ends it
        if self._lead_due:  # the shift was kept because a lead event ends it: that event comes now
            allowed[:, T.TIME_SHIFT : T.TIME_SHIFT + T.N_TIME_SHIFT] = False
        s = self.settings
        probs = process_logits(self._logits[None], allowed, s.temperature, s.top_k, s.top_p,
                               self.grammar.nucleus_rows([0]))
        tok = int(sample(probs, [self.generator])[0])
        if record:
            raw = torch.softmax(self._logits.float(), dim=-1)
            self.stats.masked_register += float((raw * self.out_of_register).sum())
            self.stats.masked_grammar += float((raw * (~allowed[0] & ~self.out_of_register)).sum())
            self.stats.sampled += 1
            self.stats.lead_tokens.append(tok)
        return tok

    def _take(self, tok: int, new_notes: list[Note]) -> None:
        """Put a sampled lead token (not a time shift) into the stream."""
        self._lead_due = False
        if D.is_duration(tok):
            assert self._open is not None
            self._open[3] += D.BIN_TICKS[tok - D.DURATION]
        else:
            self._close_note(new_notes)
            if T.is_velocity(tok):
                self._lead_velocity = T.bin_velocity(tok - T.VELOCITY)
                self._velocity[LEAD_ON] = tok - T.VELOCITY
            elif T.is_note_on(tok):
                self._open = [self.now, tok - T.NOTE_ON, self._lead_velocity, 0]
        self.grammar.advance(torch.tensor([tok]))
        if D.is_duration(tok) and tok != D.TOP:  # decided: out before the model reads its length
            self._close_note(new_notes)
        self._feed([tok])


    def _lead_share(self, logits: torch.Tensor) -> float:
        """Of the events the model expects next, the share that are the lead's (comping tokens:
        note-offs, note-ons at or below the split, and their part of the velocity changes)."""
        p = torch.softmax(logits.float(), dim=-1)
        ons = p[T.NOTE_ON : T.NOTE_ON + 128]
        lead_ons = float(ons[self.split_pitch + 1 :].sum())
        comp_ons = float(ons[: self.split_pitch + 1].sum())
        velocity = float(p[T.VELOCITY : T.VELOCITY + T.N_VELOCITY].sum())
        lead = lead_ons + velocity * lead_ons / max(lead_ons + comp_ons, 1e-12)
        comping = float(p[T.NOTE_OFF : T.TIME_SHIFT].sum()) + comp_ons + velocity - (lead - lead_ons)
        return lead / max(lead + comping, 1e-12)

    def _try_shift(self) -> None:
        """Take the pending shift if the model's next event after it is the lead's; otherwise that
        event was comping that did not come, so the lead's next event is later: draw the shift
        again among longer ones (thinning). Without this, the comping's share of every expected
        event fell to the lead, and causal solos played 3-4x the real number of notes. A 1-s shift
        (the longest token) is always taken: "nothing yet" goes on with another shift."""
        ticks = int(self._pending)
        before = self._logits
        tok = T.TIME_SHIFT + ticks - 1
        self._feed([tok])
        if ticks == T.N_TIME_SHIFT or float(torch.rand(1, generator=self.generator, dtype=torch.float64)) < \
                self._lead_share(self._logits):
            self.grammar.advance(torch.tensor([tok]))
            self.now += ticks
            self._pending = None
            # Kept *because* the lead's event ends it, so that event is what comes next. Sampled
            # freely, the next token could be another shift: two short shifts in a row, a stream the
            # model never read (in training a shift under 1 s always ends on an event).
            self._lead_due = ticks < T.N_TIME_SHIFT
            return
        self.decoder.rewind(1)
        self._length -= 1
        self._logits = before
        self._pending = self._draw_shift(ticks + 1)

    def _catch_up(self, present: int) -> None:
        """The stream is behind the present (comping heard late cut a shift there). The model goes
        on as if it had heard in time: its next token at this past moment is drawn; a lead event
        (it wanted to play with the comping) is played as soon as it can be, at the present; a
        time shift goes on as usual (thinned, and again here if it still ends in the past).

        Shifting straight to the present and asking there (the first way) told the model an event
        was due on the chunk clock: 55 % of causal solo notes fell on it (10 % by chance), 1.5x the
        real number of notes. Asking only for shifts that reach the present dropped every note the
        model wanted with the comping: 0.5x."""
        tok = self._sample(record=False)
        if T.is_time_shift(tok):
            self._pending = tok - T.TIME_SHIFT + 1
        else:  # no heard comping lies before the present (the caller checked): move there to play
            self._shift(present - self.now)
            self._lead_due = True

    def _draw_shift(self, at_least: int) -> int:
        """A time shift (ticks) drawn from the model's next-token distribution among the shifts of
        at least ``at_least`` ticks (the 1-s shift when none is that long)."""
        first = T.TIME_SHIFT + min(at_least, T.N_TIME_SHIFT) - 1
        longer = torch.full_like(self._logits, float("-inf"))
        longer[first : T.VELOCITY] = self._logits[first : T.VELOCITY]
        s = self.settings
        probs = process_logits(longer[None], torch.isfinite(longer)[None], s.temperature, s.top_k, s.top_p)
        return int(sample(probs, [self.generator])[0]) - T.TIME_SHIFT + 1

    @torch.inference_mode()
    def advance(self, known_until: float, horizon: float,
                on_note: Callable[[Note], None] | None = None) -> list[Note]:
        """Write the solo up to ``horizon`` seconds, having heard the comping up to ``known_until``;
        returns the lead notes decided now (absolute seconds), each with its full length.
        ``on_note(note)`` is called with each as soon as it is decided, in the same order (live: a
        note due now is sent before the rest of the lookahead is decided)."""
        self._known = float(known_until)
        self._on_note = on_note
        limit = T.to_tick(horizon)
        present = min(T.to_tick(known_until), limit)  # live, the lead cannot decide a note before this
        new_notes: list[Note] = []
        while True:
            self._insert_heard()
            if self._pending is None:
                if not self.grammar.writing_note(0):
                    if self.now >= limit:
                        break
                    if self.now < present:  # comping heard late cut a shift in the past: too late to play there
                        self._drop_stray_offs()
                        if self._queue and self._queue[0][0] < present:  # more heard comping first
                            self._shift(self._queue[0][0] - self.now)
                        else:
                            self._catch_up(present)
                        continue
                    self._maybe_restart()
                tok = self._sample()
                if T.is_time_shift(tok):
                    self._close_note(new_notes)
                    self._pending = tok - T.TIME_SHIFT + 1
                else:
                    self._take(tok, new_notes)
                continue
            target = self.now + self._pending
            self._drop_stray_offs()
            if self._queue and self._queue[0][0] <= target:  # comping comes first: cut the shift there
                self._shift(self._queue[0][0] - self.now)
                self._pending = None
                continue
            if target > limit:
                break
            self._try_shift()
        return new_notes


@dataclass
class CausalSolo:
    notes: list[Note]
    heard_until: list[float]
    stats: CausalStats
    wall_s: float


def offline_causal_solo(
    model: torch.nn.Module,
    cond_notes: Sequence[Note],
    settings,
    split_pitch: int | None = None,
    seed: int = 0,
    chunk_seconds: float | None = None,
    seconds: float | None = None,
    lookahead_seconds: float | None = None,
) -> CausalSolo:
    """A causal solo over known comping, its arrival simulated in chunks of ``chunk_seconds`` with
    the live mode's ``lookahead_seconds`` (default: the settings' ``chunk_seconds`` and
    ``lookahead_seconds``; what the live mode plays, chunk for chunk). Notes that would sound past
    ``seconds`` (default: the comping's end) are shortened there."""
    chunk_seconds = settings.chunk_seconds if chunk_seconds is None else chunk_seconds
    lookahead_seconds = settings.lookahead_seconds if lookahead_seconds is None else lookahead_seconds
    events = comping_events(cond_notes)
    end = float(seconds if seconds is not None else max((e.time for e in events), default=0.0))
    soloist = CausalSoloist(model, settings, split_pitch, seed)
    t0 = time.perf_counter()
    heard, clock = 0, 0.0
    while clock < end:
        clock = min(clock + chunk_seconds, end)
        upto = heard
        while upto < len(events) and events[upto].time <= clock:
            upto += 1
        soloist.hear(events[heard:upto])
        heard = upto
        soloist.advance(clock, min(clock + lookahead_seconds, end))
    notes = [n._replace(end=min(n.end, end)) for n in soloist.notes if n.start < end]
    return CausalSolo(notes, soloist.heard_until[: len(notes)], soloist.stats, time.perf_counter() - t0)
