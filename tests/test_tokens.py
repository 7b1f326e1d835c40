"""Token round trips (DESIGN §2): real MIDI files written here, and a sample of the dev data."""
from __future__ import annotations

from pathlib import Path

import pytest

from jazz_solo import tokens
from jazz_solo.midi_io import load_notes
from jazz_solo.tokens import Note
from jazz_solo.windows import encode_window

TOLERANCE_S = 0.010
VELOCITY_TOLERANCE = 3  # bins are 4 wide, decoded at bin*4 + 2


def assert_kept(original: list[Note], decoded: list[Note]) -> None:
    """Every note kept: pitch exact, onset/offset within 10 ms, velocity within one bin."""
    assert len(decoded) == len(original)
    a = sorted(original, key=lambda n: (tokens.to_tick(n.start), n.pitch))
    b = sorted(decoded, key=lambda n: (n.start, n.pitch))
    for x, y in zip(a, b):
        assert y.pitch == x.pitch, (x, y)
        assert abs(y.start - x.start) <= TOLERANCE_S, (x, y)
        assert abs(y.end - x.end) <= TOLERANCE_S, (x, y)
        assert abs(y.velocity - x.velocity) <= VELOCITY_TOLERANCE, (x, y)


def tricky_notes() -> list[Note]:
    notes = [Note(0.0, 0.48, p, 80) for p in (48, 52, 55, 60)]  # a chord
    notes += [Note(0.5, 0.7, 64, 90), Note(0.7, 0.9, 64, 30), Note(0.9, 1.3, 64, 100)]  # re-struck pitch
    notes += [Note(3.004, 3.5, 67, 1), Note(5.306, 5.31, 72, 127)]  # gaps of 1.7 s and 1.8 s; a 4 ms note
    notes += [Note(7.8, 9.9, 36, 4), Note(7.8, 8.1, 79, 7)]  # chord after a 2.5 s gap, mixed lengths
    notes += [Note(10.0 + 0.05 * v, 10.04 + 0.05 * v, 70 + v % 5, v) for v in range(1, 128, 9)]  # velocity bins
    return notes


def test_round_trip_synthetic_midi(make_midi):
    path = make_midi("tricky.mid", notes=tricky_notes())
    notes = load_notes(path)
    encoded = tokens.encode_notes(notes)
    assert sum(tokens.is_time_shift(t) for t in encoded) > 5  # gaps > 1 s use repeated shifts
    assert tokens.count_grammar_errors(encoded) == {k: 0 for k in tokens.count_grammar_errors([])}
    expected = [n._replace(end=max(n.end, n.start + 0.01)) for n in notes]  # notes last >= one tick
    assert_kept(expected, tokens.decode_tokens(encoded))


def test_velocity_bins_round_trip():
    for v in range(1, 128):
        (note,) = tokens.decode_tokens(tokens.encode_notes([Note(0.0, 0.5, 60, v)]))
        assert abs(note.velocity - v) <= VELOCITY_TOLERANCE
        assert tokens.velocity_bin(note.velocity) == tokens.velocity_bin(v)


def test_velocity_token_only_when_bin_changes():
    encoded = tokens.encode_notes([Note(0.0, 0.1, 60, 80), Note(0.2, 0.3, 62, 81), Note(0.4, 0.5, 64, 40)])
    assert sum(tokens.is_velocity(t) for t in encoded) == 2


def test_notes_closed_at_window_end(make_midi):
    notes = load_notes(make_midi("long.mid", notes=[Note(1.0, 2.0, 60, 64), Note(6.0, 15.0, 72, 64)]))
    window = encode_window(notes, 4.0, 8.0)
    assert tokens.count_grammar_errors(window)["unclosed"] == 0
    (note,) = tokens.decode_tokens(window, origin=4.0, end=12.0)
    assert (note.pitch, note.start, note.end) == (72, 6.0, 12.0)


def dev_sample(root: Path, count: int = 100) -> list[Path]:
    """A deterministic sample: every k-th file of the sorted dev data."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    return files[:: max(1, len(files) // count)][:count]


@pytest.mark.shared_data
def test_round_trip_dev_sample(shared_data):
    sample = dev_sample(shared_data)
    assert len(sample) == 100
    for path in sample:
        notes = load_notes(path)
        assert_kept(notes, tokens.decode_tokens(tokens.encode_notes(notes)))


def test_transpose_array_matches_transpose_tokens():
    import numpy as np

    seq = [tokens.BOS, *tokens.encode_notes(tricky_notes()), tokens.SEP, tokens.VELOCITY + 3, 130, tokens.EOS]
    for shift in range(-12, 13):
        expected = tokens.transpose_tokens(seq, shift)
        got = tokens.transpose_array(np.asarray(seq, dtype=np.int16), shift)
        assert (got is None and expected is None) or got.tolist() == expected
    assert tokens.transpose_array(np.asarray([127, 255]), 1) is None
