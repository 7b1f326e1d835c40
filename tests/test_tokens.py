"""Token round trips (docs/architecture.md#token-format): real MIDI files written here (tricky cases,
and the two-hand jazz fixture of tests/tiny_jazz.py), and a sample of the dev data."""
from __future__ import annotations

from pathlib import Path

import pytest

from jazz_solo.data import tokens
from jazz_solo.data.midi_io import load_notes
from jazz_solo.data.tokens import Note
from jazz_solo.data.windows import encode_window

from tiny_jazz import jazz_piece

TOLERANCE_S = 0.010
VELOCITY_TOLERANCE = 3  # bins are 4 wide, decoded at bin*4 + 2


def exact_end(x: Note, y: Note) -> bool:
    return abs(y.end - x.end) <= TOLERANCE_S


def duration_within_bin(x: Note, y: Note) -> bool:
    """Length within 10 ms below 1 s and within 5 % above (no bin caps it)."""
    length, got = x.end - x.start, y.end - y.start
    return abs(got - length) <= (TOLERANCE_S if length < 1.0 else 0.05 * length + TOLERANCE_S)


def assert_kept(original: list[Note], decoded: list[Note], end_ok=exact_end) -> None:
    """Every note kept: pitch exact, onset within 10 ms, end per ``end_ok`` (default: offset within
    10 ms), velocity within one bin."""
    assert len(decoded) == len(original)
    a = sorted(original, key=lambda n: (tokens.to_tick(n.start), n.pitch))
    b = sorted(decoded, key=lambda n: (n.start, n.pitch))
    for x, y in zip(a, b):
        assert y.pitch == x.pitch, (x, y)
        assert abs(y.start - x.start) <= TOLERANCE_S, (x, y)
        assert end_ok(x, y), (x, y)
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


# --- the duration vocabulary (jazz_solo.data.durations) ---------------------------------------------

from jazz_solo.data import durations  # noqa: E402


def playable(notes: list[Note]) -> list[Note]:
    """What MIDI can hold: notes last >= one tick, a re-struck pitch ends at the new onset."""
    ticks = tokens.quantize(notes)
    return [Note(on / 100, off / 100, p, v) for on, off, p, v in ticks]


def test_duration_bins_are_exact_below_a_second_and_within_4_percent_above():
    for ticks in range(1, 100_001, 7):
        got = sum(durations.BIN_TICKS[t - durations.DURATION] for t in durations.duration_tokens(ticks))
        assert got == ticks if ticks <= 100 else abs(got - ticks) <= 0.04 * ticks
    assert durations.duration_tokens(3000) == [durations.TOP]
    assert durations.duration_tokens(9000)[:2] == [durations.TOP, durations.TOP]  # no cap: bins add up
    assert durations.VOCAB_SIZE == durations.DURATION + len(durations.BIN_TICKS)


def test_duration_round_trip_synthetic_midi(make_midi):
    notes = tricky_notes() + [Note(12.0, 52.0, 90, 70), Note(12.0, 13.27, 91, 70)]  # a 40 s note
    decoded = durations.decode_lead(durations.encode_lead(load_notes(make_midi("t.mid", notes=notes))))
    assert_kept(playable(notes), decoded, duration_within_bin)
    assert max(n.end - n.start for n in decoded) > 38.0


def test_duration_lead_keeps_real_length_past_the_window_end(make_midi):
    notes = load_notes(make_midi("long.mid", notes=[Note(1.0, 2.0, 72, 64), Note(6.0, 15.0, 74, 64)]))
    window = encode_window(notes, 4.0, 8.0, durations.encode_lead)
    (note,) = durations.decode_lead(window, origin=4.0)
    assert (note.pitch, note.start) == (74, 6.0) and abs(note.end - 15.0) <= 0.04 * 9.0  # 9 s: nearest bin
    assert durations.count_grammar_errors(window) == dict.fromkeys(durations.count_grammar_errors([]), 0)


def test_duration_grammar_errors_are_counted():
    D, T = durations, tokens
    bad = [T.NOTE_ON + 70, T.TIME_SHIFT, D.DURATION + 5, T.NOTE_OFF + 70, T.NOTE_ON + 71, D.DURATION + 3,
           T.NOTE_ON + 71, D.DURATION, T.SEP, T.NOTE_ON + 72]
    assert durations.count_grammar_errors(bad) == {
        "missing_duration": 2, "orphan_duration": 1, "note_off_in_lead": 1, "duplicate_note_on": 1,
        "misplaced_special": 1,
    }
    # a cut stream still decodes its onsets (a default length for those left without); the pitch
    # struck twice on one tick is one note, the longer
    assert [(n.pitch, round(n.end - n.start, 2)) for n in durations.decode_lead(bad)] == [
        (70, 0.25), (71, 0.04), (72, 0.25)]


@pytest.mark.shared_data
def test_duration_round_trip_dev_sample(shared_data):
    """Item 4 of the vocabulary issue: 100 dev files, every note kept, long notes included."""
    longest = 0.0
    for path in dev_sample(shared_data):
        notes = load_notes(path)
        decoded = durations.decode_lead(durations.encode_lead(notes))
        assert_kept(playable(notes), decoded, duration_within_bin)
        longest = max(longest, max(n.end - n.start for n in notes))
    assert longest > 4.0  # long notes were part of the check


def test_both_vocabularies_round_trip_the_jazz_fixture(make_midi):
    """The dev-sample round trips on a piece that runs everywhere: two hands of jazz piano (rolled
    chords, jitter off the 10 ms grid, swung lines, dyads, long notes), written as MIDI and read back."""
    notes = load_notes(make_midi("jazz.mid", notes=jazz_piece(bars=4, seed=0, key=-2)))
    assert len(notes) > 40 and max(n.end - n.start for n in notes) > 1.0  # long notes are part of the check
    assert len({tokens.velocity_bin(n.velocity) for n in notes}) > 8
    assert_kept(notes, tokens.decode_tokens(tokens.encode_notes(notes)))
    assert_kept(playable(notes), durations.decode_lead(durations.encode_lead(notes)), duration_within_bin)
