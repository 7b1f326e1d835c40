"""Content fingerprints of a piece's notes, so that copies are found whatever their name.

A copy may be renamed, re-exported with another tempo or ticks-per-beat, or shifted in start
time; its notes keep their pitches and their *relative* timing. The fingerprint hashes the
(pitch, onset, offset) set with times measured from the first onset and divided by the
piece's span, so start offset and a uniform tempo change cancel out. Velocities are left out
(some exporters rescale them).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .tokens import Note

STEPS = 10_000  # time resolution relative to the span: 1/10000 of a 3-minute piece is 18 ms


def note_fingerprint(notes: Sequence[Note]) -> str:
    """Hex digest identifying the notes up to start offset and tempo (empty input: hash of nothing)."""
    if not notes:
        return hashlib.sha256(b"").hexdigest()[:32]
    t0 = min(n.start for n in notes)
    span = max(n.end for n in notes) - t0 or 1.0
    rows = sorted(
        (int(n.pitch), round((n.start - t0) / span * STEPS), round((n.end - t0) / span * STEPS)) for n in notes
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:32]
