"""Each metric on hand-built MIDI (written, read back) with values computed by hand."""
from __future__ import annotations

import math

import pytest

from jazz_solo.data import tokens
from jazz_solo.evaluation import metrics
from jazz_solo.data.midi_io import load_notes, write_midi
from jazz_solo.data.tokens import Note


@pytest.fixture
def roundtrip(tmp_path):
    """Write notes as a real MIDI file and read them back (what the metrics see in practice)."""

    def _rt(notes: list[Note]) -> list[Note]:
        return load_notes(write_midi(tmp_path / "m.mid", {"piano": notes}))

    return _rt


def n(start: float, end: float, pitch: int = 60) -> Note:
    return Note(start, end, pitch, 80)


def line(onsets, length=0.1, pitches=None):
    return [n(t, t + length, (pitches[i] if pitches else 60 + i % 12)) for i, t in enumerate(onsets)]


# --- the original definitions (docs/architecture.md#metrics) ------------------------------


def test_dead_air_eighth_line_at_160_bpm_is_one(roundtrip):
    eighth = 60 / 160 / 2  # 187.5 ms, just above the 180 ms threshold
    notes = roundtrip(line([i * eighth for i in range(32)], length=0.15))
    assert metrics.dead_air_ratio(notes, 180) == 1.0
    assert metrics.dead_air_ratio(notes, 200) == 0.0


def test_dead_air_chords_count_zero_gaps(roundtrip):
    # three 3-note chords one second apart: gaps 0,0,1,0,0,1,0,0 -> 2 long of 8
    chords = [n(t, t + 0.5, p) for t in (0.0, 1.0, 2.0) for p in (60, 64, 67)]
    assert metrics.dead_air_ratio(roundtrip(chords), 180) == pytest.approx(2 / 8)
    # one chord only: 2 gaps of 0 s, none long
    assert metrics.dead_air_ratio(roundtrip(chords[:3]), 180) == 0.0


def test_dead_air_edge_cases():
    assert metrics.dead_air_ratio([], 180) == 1.0
    assert metrics.dead_air_ratio([n(0, 1)], 180) == 0.0  # no gap: 0 / max(1, 0)
    assert metrics.dead_air_ratio([n(0, 1), n(0.18, 1, 62)], 180) == 1.0  # exactly at the threshold counts


def test_repetition_4gram(roundtrip):
    # C D E F C D E F: 4-grams CDEF DEFC EFCD FCDE CDEF -> 4 unique of 5
    notes = roundtrip(line([i * 0.25 for i in range(8)], pitches=[60, 62, 64, 65] * 2))
    assert metrics.repetition_4gram(notes) == pytest.approx(1 - 4 / 5)
    assert metrics.repetition_4gram(notes[:7]) == 0.0  # fewer than 8 notes
    assert metrics.repetition_4gram(line([i * 0.25 for i in range(8)], pitches=[60] * 8)) == pytest.approx(1 - 1 / 5)
    assert metrics.repetition_4gram([]) == 0.0


def test_note_density(roundtrip):
    notes = roundtrip([n(t, t + 0.5) for t in (0.0, 0.5, 1.0, 1.5)])
    assert metrics.note_density(notes) == pytest.approx(4 / 2.0)
    # literal definition: the end of the note with the last onset closes the span, even though
    # the first note rings until 4 s: 2 notes / 1.5 s
    assert metrics.note_density(roundtrip([n(0, 4, 60), n(1, 1.5, 62)])) == pytest.approx(2 / 1.5)
    # chord at the last onset: the last in (onset, pitch) order is the highest pitch
    assert metrics.note_density([n(0, 1, 60), n(1, 3, 60), n(1, 2, 64)]) == pytest.approx(3 / 2)
    assert metrics.note_density([n(0, 0.5)]) == pytest.approx(2.0)  # one note
    assert metrics.note_density([]) == 0.0
    assert metrics.note_density([n(1, 1), n(1, 1, 62)]) == 0.0  # zero span


# --- added metrics ------------------------------------------------------------------------


def test_silence_ratio(roundtrip):
    notes = roundtrip([n(0, 1), n(1.1, 2), n(3, 4)])  # gaps 0.1 s (short, ignored) and 1 s
    assert metrics.silence_ratio(notes, 180) == pytest.approx(1 / 4)
    assert metrics.silence_ratio(notes, 180, span=(0, 5)) == pytest.approx(2 / 5)  # + trailing 1 s
    assert metrics.silence_ratio(notes, threshold_ms=50) == pytest.approx(1.1 / 4)
    overlapping = [n(0, 2, 60), n(1, 3, 64), n(3.5, 4, 67)]
    assert metrics.silence_ratio(overlapping, 180) == pytest.approx(0.5 / 4)
    assert metrics.silence_ratio([n(0, 1)], 180) == 0.0
    assert metrics.silence_ratio([], 180) == 1.0
    assert metrics.silence_ratio([], 180, span=(0, 8)) == 1.0


def test_pitch_class_entropy(roundtrip):
    notes = roundtrip(line([0, 0.5, 1, 1.5], pitches=[60, 64, 67, 72]))  # C E G C: p = 1/2, 1/4, 1/4
    assert metrics.pitch_class_entropy(notes) == pytest.approx(1.5)
    chromatic = line([i * 0.25 for i in range(12)], pitches=list(range(60, 72)))
    assert metrics.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert metrics.pitch_class_entropy([n(0, 1)]) == 0.0
    assert metrics.pitch_class_entropy([]) == 0.0


def test_scale_consistency(roundtrip):
    c_major_plus_f_sharp = [60, 62, 64, 65, 67, 69, 71, 66]
    notes = roundtrip(line([i * 0.25 for i in range(8)], pitches=c_major_plus_f_sharp))
    assert metrics.scale_consistency(notes) == pytest.approx(7 / 8)
    a_minor = [57, 59, 60, 62, 64, 65, 67]
    assert metrics.scale_consistency(line(range(7), pitches=a_minor)) == 1.0
    assert metrics.scale_consistency(line(range(12), pitches=list(range(60, 72)))) == pytest.approx(7 / 12)
    assert metrics.scale_consistency([n(0, 1, 61)]) == 1.0
    assert metrics.scale_consistency([]) == 0.0


def test_polyphony(roundtrip):
    assert metrics.polyphony(roundtrip([n(0, 2, 60), n(1, 3, 64)])) == pytest.approx(4 / 3)
    assert metrics.polyphony(roundtrip([n(0, 1, p) for p in (60, 64, 67)])) == pytest.approx(3.0)
    assert metrics.polyphony([n(0, 2, 60), n(1, 3, 60)]) == pytest.approx(1.0)  # one pitch overlapping itself
    assert metrics.polyphony([n(0, 1), n(2, 3, 62)]) == pytest.approx(1.0)  # silence is not averaged
    assert metrics.polyphony([n(1, 1)]) == 0.0
    assert metrics.polyphony([]) == 0.0


def test_pitch_range(roundtrip):
    assert metrics.pitch_range(roundtrip(line([0, 1, 2], pitches=[60, 72, 55]))) == 17.0
    assert metrics.pitch_range([n(0, 1)]) == 0.0
    assert metrics.pitch_range([]) == 0.0


def test_pitch_mean_sees_register(roundtrip):
    melody = roundtrip(line([0, 1, 2], pitches=[60, 72, 57]))
    assert metrics.pitch_mean(melody) == 63.0
    octave_down = [n._replace(pitch=n.pitch - 12) for n in melody]
    # Same range and pitch classes an octave lower: only the register metric moves.
    assert metrics.pitch_range(octave_down) == metrics.pitch_range(melody)
    assert metrics.pitch_class_entropy(octave_down) == metrics.pitch_class_entropy(melody)
    assert metrics.pitch_mean(octave_down) == 51.0
    assert metrics.pitch_mean([]) == 0.0


def test_held_share_and_log_durations(roundtrip):
    # lengths 0.1, 0.5, 1, 2, 5 s (one of five held > 4 s); ln: -2.303, -0.693, 0, 0.693, 1.609
    notes = roundtrip([n(0, 0.1), n(1, 1.5, 62), n(2, 3, 64), n(3, 5, 65), n(4, 9, 67)])
    assert metrics.held_share(notes) == pytest.approx(0.2)
    assert metrics.log_duration_median(notes) == pytest.approx(0.0, abs=1e-6)
    assert metrics.log_duration_iqr(notes) == pytest.approx(math.log(2) - math.log(0.5), abs=1e-6)  # q3 - q1
    assert metrics.held_share([n(0, 4.0)]) == 0.0  # exactly 4 s is not held "longer than 4 s"
    assert metrics.log_duration_iqr([n(0, 1)]) == 0.0
    assert metrics.held_share([]) == metrics.log_duration_median([]) == metrics.log_duration_iqr([]) == 0.0


def test_ioi_mean_and_std(roundtrip):
    notes = roundtrip([n(0, 0.4), n(0.5, 1, 60), n(0.5, 1, 64), n(1.5, 2)])  # distinct onsets 0, .5, 1.5
    assert metrics.ioi_mean(notes) == pytest.approx(0.75)
    assert metrics.ioi_std(notes) == pytest.approx(0.25)
    chord = [n(0, 1, p) for p in (60, 64, 67)]
    assert metrics.ioi_mean(chord) == 0.0 and metrics.ioi_std(chord) == 0.0
    assert metrics.ioi_mean([]) == 0.0 and metrics.ioi_std([]) == 0.0


def test_harmonic_fit(roundtrip):
    cond = roundtrip([n(0, 1, 48)])  # a low C from 0 to 1 s: C is "near" during [-1, 2]
    assert metrics.harmonic_fit([n(0, 1, 72)], cond) == pytest.approx(1.0)
    assert metrics.harmonic_fit([n(0, 1, 76)], cond) == 0.0
    assert metrics.harmonic_fit([n(1.5, 2.5, 72)], cond) == pytest.approx(0.5)
    assert metrics.harmonic_fit([n(0, 1, 72), n(0, 1, 76)], cond) == pytest.approx(0.5)  # overlapping lead
    assert metrics.harmonic_fit([n(0, 3, 72)], cond) == pytest.approx(2 / 3)  # by note-time, not count
    two_cs = [n(0, 1, 48), n(0.5, 1.5, 36)]  # overlapping reach is not counted twice
    assert metrics.harmonic_fit([n(0, 4, 84)], two_cs) == pytest.approx(2.5 / 4)
    assert metrics.harmonic_fit([], cond) == 0.0
    assert metrics.harmonic_fit([n(0, 1, 72)], []) == 0.0


def test_harmonic_fit_gain():
    cond = [n(0, 1, 48)]
    assert metrics.harmonic_fit_gain([n(0, 1, 72)], cond) == pytest.approx(1.0)  # C over C
    assert metrics.harmonic_fit_gain([n(0, 1, 66)], cond) == pytest.approx(-1.0)  # F# over C
    assert metrics.harmonic_fit_gain([n(0, 1, 72), n(0, 1, 66)], cond) == pytest.approx(0.0)
    assert metrics.harmonic_fit_gain([], cond) == 0.0


def test_semitone_fit_gain_sees_a_tritone_substitution_that_the_tritone_control_misses():
    g7 = [n(0, 2, p) for p in (43, 47, 50, 53)]  # G B D F: a dominant seventh
    lead = [n(0, 1, 71), n(1, 2, 77)]  # its third and seventh (B, F), the guide tones
    # Db7 (Db F Ab Cb) holds B and F too: against the tritone the guide tones fit as well as against G7
    assert metrics.harmonic_fit_gain(lead, g7) == pytest.approx(0.0)
    assert metrics.semitone_fit_gain(lead, g7) == pytest.approx(1.0)  # Ab7 and F#7 hold neither B nor F
    assert metrics.semitone_fit_gain([n(0, 1, 72)], [n(0, 1, 61)]) == pytest.approx(-0.5)  # C over C#
    assert metrics.semitone_fit_gain([], g7) == 0.0


def test_onset_fit(roundtrip):
    cond = roundtrip([n(1.0, 2.0, 48)])  # a low C from 1 to 2 s: C fits onsets in [0.9, 2.1]
    assert metrics.onset_fit([n(1.0, 1.5, 72)], cond) == 1.0
    assert metrics.onset_fit([n(0.9, 1.5, 72), n(2.1, 3.0, 60)], cond) == 1.0  # both edges count
    assert metrics.onset_fit([n(0.85, 1.5, 72), n(2.15, 3.0, 60)], cond) == 0.0  # 50 ms outside
    assert metrics.onset_fit([n(1.2, 9.0, 76)], cond) == 0.0  # E over C, however long
    assert metrics.onset_fit([n(1.2, 1.3, 72), n(1.2, 1.3, 76)], cond) == 0.5  # per note, not note-time
    assert metrics.onset_fit([n(0.0, 5.0, 72)], cond) == 0.0  # a note held into the chord did not start on it
    assert metrics.onset_fit([n(0.0, 5.0, 72)], cond, window_s=1.0) == 1.0
    assert metrics.onset_fit([], cond) == 0.0
    assert metrics.onset_fit([n(1.0, 1.5, 72)], []) == 0.0


@pytest.mark.shared_data
def test_onset_fit_sees_a_quarter_second_lag_that_harmonic_fit_misses(shared_data):
    """Real right hands over their own comping (dev data), then the same right hands played
    250 ms late, the lag a chunked live mode adds: onset_fit drops, harmonic_fit_gain hardly moves."""
    from jazz_solo.data.midi_io import split_roles

    files = sorted(shared_data.glob("*/*/*.midi"))[::200]
    on_time, lagged, gain_on_time, gain_lagged = [], [], [], []
    for path in files:
        cond, lead = split_roles(load_notes(path), 60)
        late = [x._replace(start=x.start + 0.25, end=x.end + 0.25) for x in lead]
        on_time.append(metrics.onset_fit(lead, cond))
        lagged.append(metrics.onset_fit(late, cond))
        gain_on_time.append(metrics.harmonic_fit_gain(lead, cond))
        gain_lagged.append(metrics.harmonic_fit_gain(late, cond))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"onset_fit {mean(on_time):.3f} -> {mean(lagged):.3f} late; "
          f"harmonic_fit_gain {mean(gain_on_time):.3f} -> {mean(gain_lagged):.3f}")
    assert len(files) >= 5
    assert mean(on_time) - mean(lagged) > 0.02  # measured over 10 pieces: 0.307 -> 0.270
    assert abs(mean(gain_on_time) - mean(gain_lagged)) < 0.01  # 0.217 -> 0.213


def test_grammar_error_total_from_raw_tokens():
    on, off = tokens.NOTE_ON, tokens.NOTE_OFF
    raw = [on + 60, off + 61, on + 60, tokens.TIME_SHIFT, tokens.EOS, off + 99]
    errors = tokens.count_grammar_errors(raw)  # orphan OFF 61, duplicate ON 60, 60 left open
    assert metrics.grammar_error_total(errors) == 3
    assert metrics.grammar_error_total(None) is None


def test_sample_metrics_has_every_metric_and_is_finite():
    for lead, cond in (([], []), ([n(0, 1, 72)], []), (line([0, 0.2, 0.4]), [n(0, 1, 48)])):
        values = metrics.sample_metrics(lead, cond, 180)
        assert list(values) == list(metrics.NOTE_METRICS)
        assert all(math.isfinite(v) for v in values.values())
    # the span for silence defaults to lead and conditioning together
    assert metrics.sample_metrics([n(0, 1, 72)], [n(0, 4, 48)], 180)["silence_ratio"] == pytest.approx(3 / 4)
