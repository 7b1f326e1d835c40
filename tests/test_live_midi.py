"""Live MIDI through real ports: a JACK server with its dummy driver (no sound card needed),
python-rtmidi's JACK backend, virtual ports wired with ``jack_connect``, and the real
``python -m jazz_solo serve --midi-in/--midi-out`` subprocess playing along to a comping file
played into it in real time. Skips (with the reason) where jackd or python-rtmidi is missing.

The pieces of :mod:`jazz_solo.serving.live_midi` that need no port (note tracking, the scheduler's
note_on/note_off pairing) are tested on their own first."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from jazz_solo.serving import live_midi
from jazz_solo.serving.live_midi import CompingEvent, InputQueue, NoteTracker, Scheduler, percentiles
from jazz_solo.data.midi_io import split_roles, write_midi
from jazz_solo.data.tokens import Note

from conftest import PROJECT_ROOT, comping_and_lead
from test_generate import make_adapter  # the shared tiny base + LoRA adapter

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


# --- without ports ----------------------------------------------------------------------------


def test_note_tracker_splits_held_notes_at_the_cut():
    tracker = NoteTracker()
    first = tracker.notes_until([CompingEvent(0.1, 48, 70), CompingEvent(0.5, 48, 0), CompingEvent(0.6, 52, 60)], 1.0)
    assert first == [Note(0.1, 0.5, 48, 70), Note(0.6, 1.0, 52, 60)]  # 52 still held: cut at 1.0
    second = tracker.notes_until([CompingEvent(1.2, 52, 0), CompingEvent(1.3, 55, 80), CompingEvent(1.3, 55, 90)], 2.0)
    assert second == [Note(1.0, 1.2, 52, 60), Note(1.3, 1.31, 55, 80), Note(1.3, 2.0, 55, 90)]


def test_scheduler_pairs_every_note_on_with_one_note_off():
    """Sent on a real thread against the real clock: overlapping notes of one pitch, a note whose
    time has passed, and a stop while notes sound and others wait."""
    sent: list[tuple[float, str, int]] = []
    t0 = time.monotonic()
    clock = lambda: time.monotonic() - t0  # noqa: E731
    scheduler = Scheduler(lambda m: sent.append((clock(), m.type, m.note)), clock)
    scheduler.start()
    scheduler.add([Note(0.05, 0.30, 72, 80), Note(0.10, 0.15, 72, 90),  # restrike while sounding
                   Note(0.05, 0.06, 76, 80), Note(-1.0, 0.08, 79, 80),  # already due: sent at once
                   Note(0.20, 5.0, 84, 80), Note(3.0, 3.5, 88, 80)])     # stopped while sounding / not started
    time.sleep(0.4)
    scheduler.close()
    kinds = [(k, p) for _, k, p in sent]
    assert kinds.count(("note_on", 72)) == 2 and kinds.count(("note_off", 72)) == 2
    assert ("note_on", 88) not in kinds and ("note_off", 84) in kinds
    sounding: set[int] = set()
    for _, kind, pitch in sent:
        assert (pitch in sounding) == (kind == "note_off"), (kind, pitch, sent)
        (sounding.add if kind == "note_on" else sounding.discard)(pitch)
    assert not sounding
    assert len(scheduler.lateness) == 5 and scheduler.lateness[0] >= 1.0  # the note due at -1 s
    assert sorted(scheduler.lateness)[-2] < 0.05  # the others on time (measured: < 1 ms)


def test_cli_refuses_a_missing_backend_in_one_line(tmp_path, capsys):
    from jazz_solo.__main__ import main as cli_main

    args = ["serve", "--bundle", str(tmp_path), "--midi-in", "a", "--midi-out", "b", "--midi-backend", "no.such.backend"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "no.such.backend" in err and len(err.splitlines()) == 1


# --- a JACK server with the dummy driver --------------------------------------------------------


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    """A private JACK server (dummy driver, 48 kHz, 256 frames: 5.3 ms a period) for this module;
    JACK_DEFAULT_SERVER names it for this process and the serve subprocess."""
    rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi is not installed (pip install '.[live]')")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("this python-rtmidi build has no JACK API")
    if not (shutil.which("jackd") and shutil.which("jack_connect")):
        pytest.skip("jackd/jack_connect not found (Debian: apt-get install jackd2)")
    name = f"jazzsolo-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    proc = None
    for realtime in ([], ["--no-realtime"]):  # realtime scheduling needs rights a CI user may lack
        with log.open("w") as out:
            proc = subprocess.Popen(["jackd", "-n", name, *realtime, "-d", "dummy", "-r", "48000", "-p", "256"],
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        for _ in range(50):
            if proc.poll() is not None:
                break
            if subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            break
    if proc.poll() is not None:
        tail = (log.read_text().strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"jackd -d dummy did not start: {tail}")
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    yield env
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    proc.terminate()
    proc.wait(10)


def _connect(env: dict[str, str], src: str, dst: str) -> None:
    """jack_connect the ports whose full names end in ``:src`` and ``:dst``."""
    deadline = time.monotonic() + 10
    while True:
        names = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True).stdout.splitlines()
        a = [n for n in names if n.endswith(f":{src}")]
        b = [n for n in names if n.endswith(f":{dst}")]
        if (a and b) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert a and b, f"ports {src} / {dst} not in jack_lsp: {names}"
    subprocess.run(["jack_connect", a[0], b[0]], env=env, check=True, capture_output=True)


def _record(port) -> InputQueue:
    """What arrives at ``port``, stamped with time.monotonic (the serve loop's own reader)."""
    return InputQueue(time.monotonic).listen(port)


def test_port_to_port_latency(jack):
    """One note between two virtual JACK ports: the floor under any live latency we quote."""
    import mido

    backend = live_midi.midi_backend(JACK_BACKEND)
    with backend.open_output("lat_out", virtual=True, client_name="lat-src") as out, \
            backend.open_input("lat_in", virtual=True, client_name="lat-dst") as inp:
        rec = _record(inp)
        _connect(jack, "lat_out", "lat_in")
        lat, rng = [], random.Random(0)
        for i in range(100):
            t = time.monotonic()
            out.send(mido.Message("note_on", note=60 + i % 12, velocity=64))
            while not (got := rec.drain()) and time.monotonic() - t < 1.0:
                time.sleep(0.0002)
            assert got, "a note sent between connected JACK ports never arrived"
            lat.append(got[0].time - t)
            out.send(mido.Message("note_off", note=60 + i % 12))
            time.sleep(0.005 + rng.uniform(0, 0.006))  # a random phase against the 5.3 ms JACK period
            rec.drain()
        rec.close()
    stats = percentiles(lat)
    print(f"port-to-port latency over 100 notes: p50 {stats['p50'] * 1000:.1f} ms, "
          f"p95 {stats['p95'] * 1000:.1f} ms, max {stats['max'] * 1000:.1f} ms")
    assert stats["p95"] < 0.05  # measured here: p50 3.3 ms, p95 5.9 ms (a 5.3 ms JACK period + the 1 ms poll)


def test_ports_open_by_part_of_their_name(jack):
    """Existing ports (a keyboard's output, a synth's input) opened by a part of their system
    name, a note passed through each; a wrong name is one line listing the ports there are."""
    import mido

    backend = live_midi.midi_backend(JACK_BACKEND)
    with backend.open_output("kbd_out", virtual=True, client_name="keyboard") as keyboard, \
            backend.open_input("synth_in", virtual=True, client_name="synth") as synth:
        inp, out = live_midi.open_ports(backend, "kbd_out", "synth_in")
        heard, sounded = InputQueue(time.monotonic).listen(inp), _record(synth)
        try:
            keyboard.send(mido.Message("note_on", note=48, velocity=90))
            out.send(mido.Message("note_on", note=72, velocity=80))
            deadline = time.monotonic() + 2
            while not (heard.first_time() and sounded.first_time()) and time.monotonic() < deadline:
                time.sleep(0.001)
            assert [(e.pitch, e.velocity) for e in heard.drain()] == [(48, 90)]
            assert [(e.pitch, e.velocity) for e in sounded.drain()] == [(72, 80)]
        finally:
            heard.close()
            sounded.close()
            inp.close()
            out.close()
    with pytest.raises(ValueError, match=r"--midi-in 'no-such-keyboard': no such port \(available: "):
        live_midi.open_ports(backend, "no-such-keyboard", "x")


@pytest.fixture(scope="module", params=["windowed", "causal"])
def adapter(request, tmp_path_factory) -> tuple[str, Path]:
    extra = {"max_sequence": 128} if request.param == "causal" else {}
    return request.param, make_adapter(tmp_path_factory.mktemp(request.param), sequence=request.param, **extra)


def test_serve_plays_along_through_jack_ports(jack, adapter, tmp_path):
    """serve --midi-in/--midi-out --virtual on the JACK backend; a real comping file played into
    its input in real time; the solo recorded from its output. A windowed model plays a chunk
    behind (1 s chunks here), a causal one decides every 0.1 s up to 0.1 s ahead (generate.*)."""
    import mido

    sequence, adapter = adapter
    chunk, seconds = 1.0, 6.0
    cond, _ = split_roles(comping_and_lead(seconds, seed=2), 60)
    comping = write_midi(tmp_path / "comping.mid", {"comping": cond})
    backend = live_midi.midi_backend(JACK_BACKEND)
    cmd = [sys.executable, "-m", "jazz_solo", "serve", "--adapter", str(adapter), "--midi-backend", JACK_BACKEND,
           "--midi-in", "solo_in", "--midi-out", "solo_out", "--virtual", "--chunk-seconds", str(chunk), "--seed", "3"]
    server = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=jack, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read_stderr() -> None:
        for line in server.stderr:
            lines.append(line.rstrip())
            if ": ready," in line:
                ready.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        with backend.open_output("comping_out", virtual=True, client_name="player") as player, \
                backend.open_input("solo_rec", virtual=True, client_name="recorder") as recorder:
            rec = _record(recorder)
            assert ready.wait(120), "serve never said ready:\n" + "\n".join(lines[-20:])
            _connect(jack, "comping_out", "solo_in")
            _connect(jack, "solo_out", "solo_rec")
            t_play = time.monotonic()
            for msg in mido.MidiFile(comping).play():  # real time, as a keyboard would
                player.send(msg)
            time.sleep(chunk + 0.5)  # the last chunk's solo plays during the chunk after it
            server.send_signal(signal.SIGINT)
            assert server.wait(30) == 0, "\n".join(lines[-20:])
            time.sleep(0.2)  # the final note_offs in flight
            rec.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    got = rec.drain()
    ons = [e.time for e in got if e.velocity > 0]
    assert ons, "no solo note arrived at the recording port"
    sounding: set[int] = set()
    for e in got:  # well formed: every note_on gets its note_off, no double on
        if e.velocity > 0:
            assert e.pitch not in sounding, f"note_on {e.pitch} at {e.time:.3f} while it sounds"
            sounding.add(e.pitch)
        else:
            assert e.pitch in sounding, f"note_off {e.pitch} at {e.time:.3f} without its note_on"
            sounding.discard(e.pitch)
    assert not sounding, f"notes never ended: {sorted(sounding)}"
    stats = json.loads(next(line for line in lines if "stopped;" in line).split("stopped; ", 1)[1])
    first = ons[0] - t_play  # the session starts with the first comping note
    print(f"live {sequence} over JACK: {len(ons)} solo notes in {ons[-1] - t_play:.1f} s of play, first at "
          f"{first:.2f} s after the first comping note; serve's own stats {stats}")
    played = sum(m.type in ("note_on", "note_off") for m in mido.MidiFile(comping))
    assert stats["comping_events"] == played  # it heard every note on and off of the file
    assert stats["solo_notes"] == len(ons)
    assert stats["deadline_misses"] == 0
    if sequence == "windowed":  # chunk-behind: nothing before the first chunk is over
        assert first >= chunk - 0.05
        assert stats["lateness_s"]["p95"] < 0.05  # sent within 50 ms of meant on a busy 2-core box
    else:  # each note decided at most a lookahead (0.1 s) after the comping it had heard
        assert stats["recency_gap_s"]["max"] <= 0.1 + 0.011
