"""``python -m jazz_solo serve``: the MCP server (stdio, or streamable HTTP on 127.0.0.1), or live MIDI ports."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the solo model: MCP over stdio (default), MCP over HTTP on loopback, or live MIDI ports",
    )
    p.add_argument("--bundle", type=Path, default=Path("results/best"), help="exported bundle dir (default results/best)")
    p.add_argument("--adapter", type=Path, default=None, help="a peft adapter dir instead of the bundle")
    p.add_argument("--allowed-dir", type=Path, default=None, help="the one folder generate_solo may read paths from")
    p.add_argument("--http", action="store_true", help="streamable HTTP on 127.0.0.1 instead of stdio")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--midi-in", default=None, help="live mode: input port name (comping from a keyboard / DAW)")
    p.add_argument("--midi-out", default=None, help="live mode: output port name (the solo)")
    p.add_argument("--chunk-seconds", type=float, default=None, help="live mode chunk (default half a window)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the small model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..serve import Engine

    # stdout is the MCP channel in stdio mode: logs go to stderr only.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.allowed_dir is not None and not args.allowed_dir.is_dir():
        raise FileNotFoundError(f"{args.allowed_dir}: --allowed-dir is not a folder")
    torch.set_num_threads(max(1, args.threads))
    live_mode = bool(args.midi_in or args.midi_out)
    if live_mode:
        if not (args.midi_in and args.midi_out):
            raise ValueError("live mode needs both --midi-in and --midi-out")
        _mido()  # fail before loading the model
    engine = Engine.load(None if args.adapter else args.bundle, args.adapter)
    if live_mode:
        return live(engine, args.midi_in, args.midi_out, args.chunk_seconds)
    from ..mcp_server import run_server

    run_server(engine, args.allowed_dir, http=args.http, port=args.port)
    return 0


def _mido():
    """mido with a working port backend (python-rtmidi, optional: imported only in live mode)."""
    try:
        import mido

        mido.get_input_names()
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"live MIDI needs mido with python-rtmidi (pip install python-rtmidi): {exc}") from None
    return mido


def live(engine, midi_in: str, midi_out: str, chunk_seconds: float | None) -> int:
    """Record ``chunk_seconds`` of comping, generate its solo, play it during the next chunk (one chunk behind)."""
    mido = _mido()
    from ..serve import StreamSession
    from ..tokens import Note

    chunk = float(chunk_seconds or engine.settings.window_seconds / 2)
    session = StreamSession(engine)
    with mido.open_input(midi_in) as inp, mido.open_output(midi_out) as out:
        pending: list[tuple[float, mido.Message]] = []
        t0 = time.monotonic()
        while True:
            start, held, notes = t0, {}, []
            while (now := time.monotonic()) < start + chunk:
                while pending and pending[0][0] <= now:
                    out.send(pending.pop(0)[1])
                for msg in inp.iter_pending():
                    t = now - start
                    if msg.type == "note_on" and msg.velocity > 0:
                        held[msg.note] = (t, msg.velocity)
                    elif msg.type in ("note_off", "note_on") and msg.note in held:
                        on, vel = held.pop(msg.note)
                        notes.append(Note(on, max(t, on + 0.01), msg.note, vel))
                time.sleep(0.001)
            notes += [Note(on, chunk, p, v) for p, (on, v) in held.items()]
            t0 = start + chunk
            solo = session.feed(sorted(notes), chunk)
            events = [(t0 + n.start, mido.Message("note_on", note=n.pitch, velocity=n.velocity)) for n in solo]
            events += [(t0 + n.end, mido.Message("note_off", note=n.pitch)) for n in solo]
            pending = sorted(pending + events, key=lambda e: e[0])
