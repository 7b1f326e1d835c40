"""Streaming sessions of a server, each owned by the client connection that opened it.

Over HTTP every client is 127.0.0.1, so an address says nothing about who is who; the owner is
the MCP transport session (its ``mcp-session-id``). Ids are random (``secrets``, 128 bits), not a
counter, so they cannot be guessed; a session idle for ``idle_seconds`` is closed, so a client
that vanishes frees its slots; each owner has its own cap, so one client cannot lock out others
(the global cap only bounds memory). Another owner's id reads as unknown, as if it did not exist.

Owner ``None`` is a client without a transport session (stateless HTTP, MCP 2026-07-28 on): its
unguessable id is then the only credential, and only the global cap and idle expiry apply. So that
no one can hoard the global cap either, a full table makes room by closing the session idle longest
once it has been idle ``evict_after`` seconds (a live stream sends a chunk every few seconds).
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PER_OWNER = 4
MAX_TOTAL = 64
IDLE_SECONDS = 600.0
EVICT_AFTER = 30.0


@dataclass
class _Entry:
    owner: str | None
    session: Any
    last_used: float = field(default_factory=time.monotonic)


class SessionTable:
    def __init__(self, per_owner: int = PER_OWNER, max_total: int = MAX_TOTAL, idle_seconds: float = IDLE_SECONDS,
                 evict_after: float = EVICT_AFTER, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_owner, self.max_total, self.clock = per_owner, max_total, clock
        self.idle_seconds, self.evict_after = idle_seconds, evict_after
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = self.clock()
        for sid in [s for s, e in self._entries.items() if now - e.last_used > self.idle_seconds]:
            del self._entries[sid]

    def open(self, owner: str | None, make: Callable[[], Any]) -> str:
        """Add ``make()`` for ``owner``; ValueError when the owner (or the server) is at its cap."""
        with self._lock:
            self._expire()
            if owner is not None and sum(e.owner == owner for e in self._entries.values()) >= self.per_owner:
                raise ValueError(f"too many open sessions for this client ({self.per_owner}); end one first")
            if len(self._entries) >= self.max_total:
                stalest = min(self._entries, key=lambda s: self._entries[s].last_used)
                if self.clock() - self._entries[stalest].last_used < self.evict_after:
                    raise ValueError(f"server busy: {self.max_total} sessions in use; try again later")
                del self._entries[stalest]
            session = make()  # may raise (bad settings): nothing added then
            sid = secrets.token_urlsafe(16)
            self._entries[sid] = _Entry(owner, session, self.clock())
            return sid

    def get(self, owner: str | None, sid: str) -> Any:
        """The owner's session ``sid`` (touching it); unknown, expired or foreign ids raise ValueError."""
        with self._lock:
            self._expire()
            entry = self._entries.get(sid) if isinstance(sid, str) else None
            if entry is None or entry.owner != owner:
                raise ValueError(f"unknown session_id {str(sid)[:64]!r} (ended, expired, or not this client's)")
            entry.last_used = self.clock()
            return entry.session

    def close(self, owner: str | None, sid: str) -> Any:
        session = self.get(owner, sid)
        with self._lock:
            self._entries.pop(sid, None)
        return session

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)
