"""Live MIDI: comping in from one port, the solo out to another, in real time.

The pieces, each usable (and tested) on its own:

* :func:`midi_backend` / :func:`open_ports` - mido over python-rtmidi (the optional extra
  ``pip install '.[live]'``); a missing library, backend or port is one line naming it.
* :class:`InputQueue` - reads the input port on its own thread: every note on/off becomes a
  :class:`CompingEvent` stamped on the session clock as it arrives (nothing waits for the model).
* :class:`Scheduler` - a thread that sends solo notes at their times while the model computes;
  every note_on gets exactly one note_off (a note struck again while sounding is ended first, and
  stopping ends whatever sounds), and it records each note's lateness (sent minus meant).
* :class:`Causal` - a causal model's mode: every short period (generate.chunk_seconds) the comping
  heard so far goes in and the solo is decided up to a lookahead past it.
* :class:`ChunkBehind` - the windowed model's mode: a chunk of comping is recorded, its solo is
  written by :class:`jazz_solo.serving.engine.StreamSession` and played during the next chunk.
* :func:`soloist_for` - the one of the two the model was trained for.
* :func:`play` - the loop: drain the input, let the soloist decide notes, hand them to the
  scheduler (:func:`run` between two ports; bench/bench_realtime.py feeds it without ports).

Times are seconds on the session clock (0 = when the loop started).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..generation.causal import CompingEvent
from ..data.tokens import Note

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "mido.backends.rtmidi"
CLIENT_NAME = "jazz-solo"
MIN_NOTE_S = 0.01  # one model tick: a comping note released as it starts still lasts this long

# --- ports --------------------------------------------------------------------------------


def midi_backend(name: str | None = None) -> Any:
    """The mido backend ``name`` (default: $MIDO_BACKEND or rtmidi's), checked to list ports.

    ``mido.backends.rtmidi/UNIX_JACK`` picks rtmidi's JACK API (a JACK server must run)."""
    import mido

    name = name or os.environ.get("MIDO_BACKEND") or DEFAULT_BACKEND
    try:
        backend = mido.Backend(name, load=True)
        backend.get_input_names()
    except ImportError as exc:
        if exc.name == "rtmidi":
            raise ValueError(f"live MIDI backend {name}: needs python-rtmidi (pip install '.[live]')") from None
        raise ValueError(f"live MIDI backend {name}: cannot be imported ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - rtmidi raises bare RuntimeError/SystemError without a server
        raise ValueError(f"live MIDI backend {name}: cannot list ports ({type(exc).__name__}: {exc})") from None
    return backend


def _port_name(wanted: str, names: Sequence[str], flag: str) -> str:
    """The port called ``wanted``, or the one port whose name contains it (system names carry
    client prefixes and numbers: "RtMidiOut Client:comping", "IAC Driver IAC Bus 1")."""
    if wanted in names:
        return wanted
    found = [n for n in names if wanted in n]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    why = "matches several ports" if found else "no such port"
    raise ValueError(f"{flag} {wanted!r}: {why} (available: {listed})")


def open_ports(backend: Any, midi_in: str, midi_out: str, virtual: bool = False,
               client_name: str = CLIENT_NAME) -> tuple[Any, Any]:
    """(input, output) ports. ``virtual``: create ports with these names for others to connect
    to (JACK: ``jack_connect``); else open the existing ports so named."""
    try:
        if virtual:
            kw = {"virtual": True, "client_name": client_name}
            inp = backend.open_input(midi_in, **kw)
            try:
                return inp, backend.open_output(midi_out, **kw)
            except BaseException:
                inp.close()
                raise
        in_name = _port_name(midi_in, backend.get_input_names(), "--midi-in")
        out_name = _port_name(midi_out, backend.get_output_names(), "--midi-out")
        inp = backend.open_input(in_name)
        try:
            return inp, backend.open_output(out_name)
        except BaseException:
            inp.close()
            raise
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - OSError, rtmidi's own errors
        raise ValueError(f"MIDI ports {midi_in!r} -> {midi_out!r}: cannot open ({type(exc).__name__}: {exc})") from None


# --- input ----------------------------------------------------------------------------------


class InputQueue:
    """Timestamped comping events from an input port.

    :meth:`listen` polls the port on its own thread rather than taking rtmidi's callback: a Python
    callback runs on JACK's process thread and must take the GIL, and closing a JACK port waits for
    that thread, so closing while a note arrives could deadlock (seen here: 2 runs in 5 hung)."""

    POLL_S = 0.001  # stamps are at most this late

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock  # session seconds, read as each message arrives
        self._lock = threading.Lock()
        self._events: list[CompingEvent] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def push(self, msg: Any) -> None:
        """One mido message; note_on with velocity 0 and note_off both end a note. Others are ignored."""
        if msg.type == "note_on":
            event = CompingEvent(self.clock(), int(msg.note), int(msg.velocity))
        elif msg.type == "note_off":
            event = CompingEvent(self.clock(), int(msg.note), 0)
        else:
            return
        with self._lock:
            self._events.append(event)

    def listen(self, port: Any) -> "InputQueue":
        """Read ``port`` on a thread until :meth:`close` (call that before closing the port)."""
        def read() -> None:
            while not self._stop.is_set():
                while (msg := port.poll()) is not None:  # (iter(poll, None) would compare messages to None)
                    self.push(msg)
                self._stop.wait(self.POLL_S)

        self._thread = threading.Thread(target=read, name="jazz-solo-midi-in", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def first_time(self) -> float | None:
        """The time of the oldest event not drained yet (None: none)."""
        with self._lock:
            return self._events[0].time if self._events else None

    def drain(self, until: float | None = None) -> list[CompingEvent]:
        """The events before ``until`` (all when None) not drained yet, in arrival (= time) order;
        later ones stay for the next drain (a step at t hears exactly the comping before t)."""
        with self._lock:
            cut = len(self._events) if until is None else next(
                (i for i, e in enumerate(self._events) if e.time >= until), len(self._events))
            events, self._events = self._events[:cut], self._events[cut:]
        return events


class NoteTracker:
    """Comping events -> notes (onset, end), for a consumer that needs whole notes (the windowed
    model). A note still held at a cut is split there: its first part ends at the cut, the rest
    starts again at the cut (the next chunk hears it sounding)."""

    def __init__(self) -> None:
        self.held: dict[int, tuple[float, int]] = {}

    def notes_until(self, events: Iterable[CompingEvent], cut: float) -> list[Note]:
        """The notes of ``events`` (all before ``cut``), held ones cut at ``cut``."""
        notes = []
        for e in events:
            if e.velocity > 0:
                if e.pitch in self.held:  # struck again while held: the earlier one ends here
                    notes.append(self._end(e.pitch, e.time))
                self.held[e.pitch] = (e.time, e.velocity)
            elif e.pitch in self.held:
                notes.append(self._end(e.pitch, e.time))
        for pitch in list(self.held):
            on, vel = self.held[pitch]
            notes.append(Note(on, max(cut, on + MIN_NOTE_S), pitch, vel))
            self.held[pitch] = (max(cut, on + MIN_NOTE_S), vel)
        return sorted(notes, key=lambda n: (n.start, n.pitch))

    def _end(self, pitch: int, t: float) -> Note:
        on, vel = self.held.pop(pitch)
        return Note(on, max(t, on + MIN_NOTE_S), pitch, vel)


# --- output ---------------------------------------------------------------------------------


@dataclass(order=True)
class _Due:
    time: float
    seq: int
    kind: str = field(compare=False)  # "on" | "off"
    note: int = field(compare=False)  # the note's id: an off ends only its own note
    pitch: int = field(compare=False)
    velocity: int = field(compare=False)
    end: float = field(default=0.0, compare=False)  # a note_on's meant end


class Scheduler(threading.Thread):
    """Sends notes at their session times on its own thread (the model may compute meanwhile).

    ``send`` is an output port's ``send``. Every note_on gets exactly one note_off: a pitch struck
    again while it sounds is ended just before, and :meth:`close` ends whatever sounds and drops
    notes not yet started. ``lateness`` holds sent-minus-meant seconds of every note_on."""

    def __init__(self, send: Callable[[Any], None], clock: Callable[[], float], played: list[Note] | None = None) -> None:
        super().__init__(name="jazz-solo-scheduler", daemon=True)
        import mido

        self._msg = mido.Message
        self._send = send
        self.clock = clock
        self._cv = threading.Condition()
        self._due: list[_Due] = []
        self._ids = itertools.count()
        self._sounding: dict[int, int] = {}  # pitch -> id of the note sounding it
        self._closed = False
        self.lateness: list[float] = []
        self.sent_notes = 0
        self.first_sent: float | None = None
        self.played = played  # notes as sent: (sent time, meant end, pitch, velocity)

    def add(self, notes: Iterable[Note]) -> None:
        """Schedule notes (session seconds); ones already due are sent at once (and counted late)."""
        with self._cv:
            for n in notes:
                nid = next(self._ids)
                heapq.heappush(self._due, _Due(n.start, nid * 2, "on", nid, n.pitch, n.velocity, n.end))
                heapq.heappush(self._due, _Due(max(n.end, n.start), nid * 2 + 1, "off", nid, n.pitch, 0))
            self._cv.notify()

    def run(self) -> None:
        with self._cv:
            while not self._closed:
                wait = self._due[0].time - self.clock() if self._due else None
                if wait is None or wait > 0:
                    self._cv.wait(wait)
                    continue
                self._fire(heapq.heappop(self._due))

    def _fire(self, due: _Due) -> None:
        if due.kind == "on":
            if due.pitch in self._sounding:
                self._off(due.pitch)
            self._send(self._msg("note_on", note=due.pitch, velocity=max(1, min(127, due.velocity))))
            sent = self.clock()
            self.lateness.append(sent - due.time)
            self.first_sent = sent if self.first_sent is None else self.first_sent
            if self.played is not None:
                self.played.append(Note(sent, max(due.end, sent), due.pitch, due.velocity))
            self._sounding[due.pitch] = due.note
            self.sent_notes += 1
        elif self._sounding.get(due.pitch) == due.note:  # else it was already ended by a restrike
            self._off(due.pitch)

    def _off(self, pitch: int) -> None:
        self._send(self._msg("note_off", note=pitch, velocity=0))
        del self._sounding[pitch]

    def close(self) -> None:
        """Stop: end every sounding note, drop the rest, and wait for the thread."""
        with self._cv:
            self._closed = True
            for pitch in list(self._sounding):
                self._off(pitch)
            self._due.clear()
            self._cv.notify()
        if self.is_alive():
            self.join()


# --- soloists -------------------------------------------------------------------------------


class Soloist(Protocol):
    """What :func:`play` drives: :meth:`begin` at 0, then :meth:`step` every ``period`` seconds."""

    period: float

    def begin(self, events: list[CompingEvent]) -> list[Note]:
        """At time 0, having heard ``events`` (the first note, which starts the session): the first
        notes to play (session seconds)."""
        ...

    def step(self, events: list[CompingEvent], now: float,
             on_note: Callable[[Note], None] | None = None) -> list[Note]:
        """Hear ``events`` (comping known up to ``now``); return new solo notes (session seconds).
        ``on_note``, where the soloist can: called with the first of them as each is decided, in order
        (they are the returned list's first ones), so a note due now need not wait for the step's end."""
        ...


class Causal:
    """A causal model live (:class:`jazz_solo.generation.causal.CausalSoloist`): every ``period`` it hears the
    comping so far and decides the solo up to ``lookahead`` past it, the arrival that
    :func:`jazz_solo.generation.causal.offline_causal_solo` simulates (generate.chunk_seconds /
    lookahead_seconds), so offline metrics describe what is played. A lookahead longer than the
    period leaves the model that much more time than the period to decide before a note is due."""

    def __init__(self, soloist: Any, period: float, lookahead: float) -> None:
        self.soloist = soloist
        self.period = float(period)
        self.lookahead = float(lookahead)

    def begin(self, events: list[CompingEvent]) -> list[Note]:
        return self.step(events, 0.0)

    def step(self, events: list[CompingEvent], now: float,
             on_note: Callable[[Note], None] | None = None) -> list[Note]:
        self.soloist.hear(events)
        return self.soloist.advance(now, now + self.lookahead, on_note)


class ChunkBehind:
    """The windowed model live: record ``chunk`` seconds, write their solo, play it during the
    next chunk. Every solo note is heard a chunk after the comping it was written over."""

    def __init__(self, session: Any, chunk: float) -> None:
        self.session = session  # a jazz_solo.serving.engine.StreamSession
        self.period = float(chunk)
        self.tracker = NoteTracker()
        self.start = 0.0
        self.early: list[CompingEvent] = []

    def begin(self, events: list[CompingEvent]) -> list[Note]:
        self.early = events  # they belong to the first chunk
        return []

    def step(self, events: list[CompingEvent], now: float,
             on_note: Callable[[Note], None] | None = None) -> list[Note]:
        del on_note  # a chunk's solo is written at once, a chunk ahead of its playing
        start, self.start = self.start, now
        events, self.early = self.early + events, []
        chunk = [n._replace(start=n.start - start, end=n.end - start) for n in self.tracker.notes_until(events, now)]
        solo = self.session.feed(chunk, now - start)
        return [n._replace(start=n.start + now, end=n.end + now) for n in solo]


def soloist_for(engine: Any, seed: int = 0, chunk_seconds: float | None = None) -> Soloist:
    """The live soloist the engine's model can be: :class:`Causal` (generate.chunk_seconds /
    lookahead_seconds) when it was trained causal, else :class:`ChunkBehind` with ``chunk_seconds``
    (default half a window)."""
    from .engine import StreamSession, check_seed

    seed = check_seed(seed)
    if engine.causal:
        from ..generation.causal import CausalSoloist

        s = engine.settings
        return Causal(CausalSoloist(engine.model, s, engine.split_pitch, seed), s.chunk_seconds, s.lookahead_seconds)
    return ChunkBehind(StreamSession(engine, seed=seed), chunk_seconds or engine.settings.window_seconds / 2)


# --- the loop -------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / max of ``values`` (None when empty), rounded to 0.1 ms."""
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 4), "p95": round(p95, 4), "max": round(ordered[-1], 4)}


def run(inport: Any, outport: Any, soloist: Soloist, stop: threading.Event | None = None,
        seconds: float | None = None, on_ready: Callable[[], None] | None = None) -> dict[str, Any]:
    """:func:`play` between MIDI ports: comping read from ``inport``, the solo sent to ``outport``."""
    queue = InputQueue(time.monotonic).listen(inport)
    try:
        return play(queue, outport.send, soloist, stop, seconds, on_ready)
    finally:
        queue.close()


def play(queue: InputQueue, send: Callable[[Any], None], soloist: Soloist, stop: threading.Event | None = None,
         seconds: float | None = None, on_ready: Callable[[], None] | None = None,
         played: list[Note] | None = None) -> dict[str, Any]:
    """Play along until ``stop`` is set (or ``seconds`` pass); returns timing stats.

    ``queue`` stamps comping with time.monotonic; ``send`` takes the solo's mido messages; the
    notes as sent (onset = when the note_on went out) are appended to ``played``. The session
    starts with the first note heard (its time is 0): no solo over the silence before the player
    starts, whenever the ports get connected. Steps fall on a fixed grid of ``soloist.period``
    from there (a step that overruns skips the grid points it missed: they count as
    ``deadline_misses``). ``recency_gap_s``: a solo note's time minus the time up to which the
    comping had been heard when it was decided; ``first_note_s``: when the first note_on went out."""
    stop = stop or threading.Event()
    steps, step_s, misses, heard, gaps = 0, [], 0, 0, []
    if on_ready:
        on_ready()
    while (first := queue.first_time()) is None and not stop.wait(InputQueue.POLL_S):
        pass
    t0 = first if first is not None else time.monotonic()
    clock = lambda: time.monotonic() - t0  # noqa: E731 - the session clock
    scheduler = Scheduler(send, clock, played)
    scheduler.start()
    heard_now = lambda until: [CompingEvent(e.time - t0, e.pitch, e.velocity)  # noqa: E731 - on the session clock
                               for e in queue.drain(t0 + until)]
    early: list[Note] = []  # this step's notes already scheduled as they were decided

    def send_now(note: Note) -> None:  # a decided note is scheduled at once, not at the step's end
        scheduler.add([note])
        early.append(note)

    try:
        events = heard_now(InputQueue.POLL_S)  # the first note (and any struck with it)
        heard += len(events)
        scheduler.add(soloist.begin(events))
        next_step = soloist.period
        while not stop.is_set() and (seconds is None or next_step <= seconds):
            if stop.wait(max(0.0, next_step - clock())):
                break
            began = clock()
            events = heard_now(next_step)
            heard += len(events)
            early.clear()
            notes = soloist.step(events, next_step, send_now)
            scheduler.add(notes[len(early):])
            gaps += [n.start - next_step for n in notes]
            step_s.append(clock() - began)
            steps += 1
            late_by = clock() - next_step
            missed = int(late_by // soloist.period)  # grid points that passed while this step ran
            misses += missed
            next_step += soloist.period * (1 + missed)
    finally:
        scheduler.close()
    return {"steps": steps, "comping_events": heard, "step_s": percentiles(step_s), "deadline_misses": misses,
            "solo_notes": scheduler.sent_notes, "first_note_s": scheduler.first_sent,
            "lateness_s": percentiles(scheduler.lateness), "recency_gap_s": percentiles(gaps),
            # notes decided after their own onset had passed (sent late whatever the compute)
            "decided_after_onset": round(sum(g < -0.005 for g in gaps) / len(gaps), 4) if gaps else None}
