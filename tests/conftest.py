"""Shared fixtures: real MIDI made in the test, and ../shared/data when present."""
from __future__ import annotations

from pathlib import Path

import pytest

from jazz_solo.data.midi_io import write_midi
from jazz_solo.data.tokens import Note

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "pijama_studio"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core CI box the thread
    hand-offs of ~100 tiny ops per token cost far more than the ops (tens of times slower).
    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_data() -> Path:
    """The PiJAMA dev data; tests using it skip (with the reason) where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"dev data not present at {SHARED_DATA} (only on developer machines)")
    return SHARED_DATA


def comping_and_lead(seconds: float = 16.0, seed: int = 0) -> list[Note]:
    """A small two-hand piece: left-hand chords every beat, right-hand eighth notes (120 bpm)."""
    import random

    rng = random.Random(seed)
    notes = []
    beat = 0.5
    chords = [(48, 52, 55), (50, 53, 57), (43, 47, 50), (48, 52, 55)]
    t = 0.0
    while t < seconds:
        for p in chords[int(t / 2) % len(chords)]:
            notes.append(Note(t, t + beat * 0.9, p, 60 + rng.randrange(20)))
        for half in (0.0, beat / 2):
            pitch = rng.choice([64, 65, 67, 69, 71, 72, 74, 76])
            notes.append(Note(t + half, t + half + beat / 2 * 0.8, pitch, 70 + rng.randrange(30)))
        t += beat
    return notes


@pytest.fixture
def make_midi(tmp_path):
    """Factory: write a two-hand test piece (or given notes) to a MIDI file and return its path."""

    def _make(name: str = "piece.mid", notes: list[Note] | None = None, seconds: float = 16.0, seed: int = 0) -> Path:
        return write_midi(tmp_path / name, {"piano": notes if notes is not None else comping_and_lead(seconds, seed)})

    return _make
