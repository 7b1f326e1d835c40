"""MCP server (official ``mcp`` SDK, ``MCPServer`` - FastMCP's name in mcp 2.x) over :mod:`jazz_solo.serving.engine`.

Tools: ``describe_model``, ``generate_solo`` (conditioning as base64 MIDI or a path inside the
allowed folder -> base64 two-track MIDI), ``start_session`` / ``stream_chunk`` / ``end_session``.
Every tool turns any exception into an MCP error result (``ToolError``), so one bad request
never stops the server. HTTP mode binds 127.0.0.1 only.
"""
from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from .engine import Engine, check_seed, notes_from_midi_bytes, midi_bytes, open_stream, resolve_inside
from .session_table import SessionTable

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input -> its one-line message; anything else -> a short error, logged with its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            raise ToolError(str(exc).strip("'\"")) from None
        except Exception as exc:  # noqa: BLE001 - the server must survive any one request
            log.exception("tool %s failed", fn.__name__)
            raise ToolError(f"internal error in {fn.__name__}: {type(exc).__name__}: {exc}") from None

    return wrapper


def _b64(data: str, what: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not valid base64") from None


def client_of(ctx: Context | None) -> str | None:
    """Who owns a streaming session: the MCP transport session (``mcp-session-id``, HTTP with the
    handshake protocols); stdio has one client. Stateless HTTP (protocol 2026-07-28 on) has no
    transport session: None, and the random session id alone is the key (see SessionTable)."""
    request = ctx.request_context.request if ctx is not None else None
    if request is None or not hasattr(request, "headers"):
        return "stdio"
    header = request.headers.get("mcp-session-id")
    return f"http:{header}" if header else None


def build_server(engine: Engine, allowed_dir: str | Path | None = None, sessions: SessionTable | None = None) -> MCPServer:
    server = MCPServer("jazz-solo", instructions="Improvise a right-hand jazz solo over left-hand (comping) MIDI.")
    sessions = sessions if sessions is not None else SessionTable()

    @server.tool()
    @_guard
    def describe_model() -> dict[str, Any]:
        """The loaded model: adapter, parameter count, split pitch, default sampling settings and limits."""
        return {**engine.describe(), "allowed_dir": str(Path(allowed_dir).resolve()) if allowed_dir else None}

    @server.tool()
    @_guard
    def generate_solo(
        midi_base64: str | None = None,
        path: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        primer_max_tokens: int | None = None,
        continuity_seconds: float | None = None,
        listening_guidance: float | None = None,
        seed: int = 0,
        max_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Solo over a conditioning MIDI (give midi_base64, or path inside the allowed folder).

        Notes at or below the split pitch condition. Returns midi_base64: a MIDI file with tracks
        "comping" and "solo"."""
        if (midi_base64 is None) == (path is None):
            raise ValueError("give exactly one of midi_base64 or path")
        data = _b64(midi_base64, "midi_base64") if path is None else resolve_inside(path, allowed_dir).read_bytes()
        notes = notes_from_midi_bytes(data, path or "midi_base64")
        settings = dict(temperature=temperature, top_p=top_p, top_k=top_k, primer_max_tokens=primer_max_tokens,
                        continuity_seconds=continuity_seconds, listening_guidance=listening_guidance)
        out, summary = engine.generate_solo(notes, settings, check_seed(seed), max_seconds)
        return {**summary, "midi_base64": base64.b64encode(out).decode()}

    @server.tool()
    @_guard
    def start_session(
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        continuity_seconds: float | None = None,
        listening_guidance: float | None = None,
        seed: int = 0,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Open a streaming session; returns session_id for stream_chunk / end_session, and its mode:
        "causal" (the solo follows the comping of the chunk just sent: use short chunks, e.g. 0.25 s)
        or "chunk-behind" (the solo of a chunk's comping, heard a chunk later: half a window)."""
        settings = dict(temperature=temperature, top_p=top_p, top_k=top_k, continuity_seconds=continuity_seconds,
                        listening_guidance=listening_guidance)
        sid = sessions.open(client_of(ctx), lambda: open_stream(engine, settings, check_seed(seed)))
        return {"session_id": sid, "window_seconds": engine.settings.window_seconds,
                "mode": "causal" if engine.causal else "chunk-behind"}

    @server.tool()
    @_guard
    def stream_chunk(session_id: str, midi_base64: str, chunk_seconds: float, ctx: Context | None = None) -> dict[str, Any]:
        """Feed the next chunk_seconds of conditioning (base64 MIDI timed from the chunk start; "" = silence).

        Returns the solo to play during the next chunk_seconds: [[start, end, pitch, velocity], ...]
        timed from this chunk's end (start playing them when the chunk is over; a held note may ring
        longer), and the same as midi_base64 (track "solo"). Causal mode: written for those times,
        having heard the comping up to the chunk's end; chunk-behind: written over this chunk's comping."""
        session = sessions.get(client_of(ctx), session_id)
        data = _b64(midi_base64, "midi_base64")
        notes = notes_from_midi_bytes(data, "chunk") if data else []
        solo = session.feed(notes, chunk_seconds)
        return {
            "notes": [[round(n.start, 3), round(n.end, 3), n.pitch, n.velocity] for n in solo],
            "midi_base64": base64.b64encode(midi_bytes({"solo": solo})).decode(),
        }

    @server.tool()
    @_guard
    def end_session(session_id: str, ctx: Context | None = None) -> dict[str, Any]:
        """Close a streaming session (only the client that opened it can)."""
        session = sessions.close(client_of(ctx), session_id)
        return {"session_id": session_id, "chunks": session.chunks, "seconds": round(session.now, 3)}

    return server


def run_server(engine: Engine, allowed_dir: str | Path | None, http: bool = False, port: int = 8765) -> None:
    server = build_server(engine, allowed_dir)
    if http:
        server.run("streamable-http", host=LOOPBACK, port=int(port))  # loopback only, by design
    else:
        server.run("stdio")
