"""``python -m jazz_solo serve``: the MCP server (stdio, or streamable HTTP on 127.0.0.1), or live MIDI ports."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from . import add_config

log = logging.getLogger("jazz_solo.live")


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
    p.add_argument("--virtual", action="store_true",
                   help="live mode: create ports with these names (for a DAW or jack_connect) instead of opening existing ones")
    p.add_argument("--midi-backend", default=None,
                   help="mido backend (default $MIDO_BACKEND or mido.backends.rtmidi; JACK: mido.backends.rtmidi/UNIX_JACK)")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="live mode of a windowed model: chunk (default half a window; a causal model uses generate.chunk_seconds)")
    p.add_argument("--seconds", type=float, default=None, help="live mode: stop after this long (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=0, help="live mode: sampling seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the small model)")
    add_config(p)  # what the bundle does not record (a bare --adapter: all generation settings)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..config import load_config
    from ..serving.engine import Engine
    from ..settings import Settings

    # stdout is the MCP channel in stdio mode: logs go to stderr only.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.allowed_dir is not None and not args.allowed_dir.is_dir():
        raise FileNotFoundError(f"{args.allowed_dir}: --allowed-dir is not a folder")
    torch.set_num_threads(max(1, args.threads))
    live_mode = bool(args.midi_in or args.midi_out)
    if live_mode:
        from ..serving.live_midi import midi_backend

        if not (args.midi_in and args.midi_out):
            raise ValueError("live mode needs both --midi-in and --midi-out")
        if args.chunk_seconds is not None and not 0 < args.chunk_seconds <= 60:
            raise ValueError(f"--chunk-seconds must be in (0, 60], got {args.chunk_seconds}")
        backend = midi_backend(args.midi_backend)  # fail before loading the model
    settings = Settings.from_config(load_config(*args.config))  # a bad override: one line, before the model loads
    engine = Engine.load(None if args.adapter else args.bundle, args.adapter, settings)
    if live_mode:
        return live(engine, backend, args)
    from ..serving.mcp_server import run_server

    run_server(engine, args.allowed_dir, http=args.http, port=args.port)
    return 0


def live(engine, backend, args: argparse.Namespace) -> int:
    """Play along on MIDI ports until Ctrl-C / SIGTERM (or --seconds); the timing stats go to stderr."""
    from ..serving import live_midi

    soloist = live_midi.soloist_for(engine, args.seed, args.chunk_seconds)
    mode = ("causal" if engine.causal else "chunk-behind") + f" ({soloist.period:g} s)"
    inport, outport = live_midi.open_ports(backend, args.midi_in, args.midi_out, virtual=args.virtual)
    stop = threading.Event()
    # Ctrl-C and SIGTERM (a DAW or test closing us) end the session cleanly: every sounding note gets its off.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ready = lambda: log.info("live %s: ready, %s -> %s; the session starts with the first note heard",  # noqa: E731
                             mode, inport.name, outport.name)
    try:
        stats = live_midi.run(inport, outport, soloist, stop, args.seconds, on_ready=ready)
    finally:
        inport.close()
        outport.close()
    log.info("live %s: stopped; %s", mode, json.dumps(stats))
    return 0
