"""Per-sample solo metrics (docs/architecture.md#metrics): small pure functions over lists of :class:`Note`.

The first three are the project's original metrics, kept exactly so old numbers stay comparable. On their
own they reward unrealistic output (Brad Mehldau's real right hand scores a dead-air ratio of
0.625, worse than near-random samples), so the others describe what real solos look like and
``realism_distance`` (in :mod:`jazz_solo.evaluation.scoring`) compares them with real music.

Conventions: "sorted" means sorted by (onset, pitch); times are seconds; a threshold
comparison ``gap >= threshold`` tolerates 1e-9 s of float noise (MIDI tick times such as
0.18 s do not always subtract exactly). Every function returns a finite float for every input,
including no notes at all, so averages and JSON never see NaN.
"""
from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter
from collections.abc import Sequence

from ..data.tokens import Note, to_tick

EPS = 1e-9
HARMONIC_WINDOW_S = 1.0
ONSET_WINDOW_S = 0.1  # onset_fit: a 250 ms lag shows at +-100 ms, not at +-1 s
HELD_SECONDS = 4.0
TRITONE = 6
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
KEY_SCALES = tuple(
    frozenset((tonic + step) % 12 for step in scale) for scale in (MAJOR, MINOR) for tonic in range(12)
)


def _sorted(notes: Sequence[Note]) -> list[Note]:
    return sorted(notes, key=lambda n: (n.start, n.pitch))


# --- the original three (docs/architecture.md#metrics) -------------------------------------


def dead_air_ratio(notes: Sequence[Note], threshold_ms: float) -> float:
    """Share of inter-onset gaps that are long.

    ``#{i : onset[i+1] - onset[i] >= threshold} / max(1, n - 1)`` over the notes sorted by
    (onset, pitch). Chord notes make 0-s gaps, which count in the denominator. No notes -> 1.0;
    one note -> 0 gaps -> 0.0.
    """
    if not notes:
        return 1.0
    onsets = [n.start for n in _sorted(notes)]
    threshold = threshold_ms / 1000.0
    long_gaps = sum(1 for a, b in zip(onsets, onsets[1:]) if b - a >= threshold - EPS)
    return long_gaps / max(1, len(onsets) - 1)


def repetition_4gram(notes: Sequence[Note]) -> float:
    """``1 - unique / total`` over the 4-grams of the pitch sequence (notes sorted by (onset, pitch)).

    Fewer than 8 notes -> 0.0.
    """
    if len(notes) < 8:
        return 0.0
    pitches = [n.pitch for n in _sorted(notes)]
    grams = [tuple(pitches[i : i + 4]) for i in range(len(pitches) - 3)]
    return 1.0 - len(set(grams)) / len(grams)


def note_density(notes: Sequence[Note]) -> float:
    """Notes per second: ``n / (end(last) - start(first))`` over the notes sorted by (onset, pitch).

    Read literally as the original definition does (docs/architecture.md#metrics): ``last`` is the last note in that order (at the
    latest onset, the highest pitch) and its *end* closes the span, even if an earlier note
    rings longer. No notes -> 0.0; a span <= 0 (zero-length notes at one instant) -> 0.0, as
    no rate can be measured.
    """
    if not notes:
        return 0.0
    ordered = _sorted(notes)
    span = ordered[-1].end - ordered[0].start
    return len(ordered) / span if span > 0 else 0.0


# --- added metrics ------------------------------------------------------------------------


def _union(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merged, sorted intervals (touching ones join)."""
    merged: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def silence_ratio(
    notes: Sequence[Note],
    threshold_ms: float,
    span: tuple[float, float] | None = None,
) -> float:
    """Share of the span in which no note sounds, counting only silences >= threshold.

    ``sum(silences >= threshold) / (span_end - span_start)``, where silences are the gaps of
    the union of note intervals within the span (including before the first and after the
    last note). ``span`` defaults to (first onset, last end); the evaluation passes the whole
    sample's span (solo and comping), so a solo that waits before it starts is charged for it.
    No notes -> 1.0; a span <= 0 -> 1.0 (nothing sounds for any time).
    """
    if span is None:
        if not notes:
            return 1.0
        span = (min(n.start for n in notes), max(n.end for n in notes))
    lo, hi = span
    if hi - lo <= 0:
        return 1.0
    sounding = _union([(max(n.start, lo), min(n.end, hi)) for n in notes if n.end > lo and n.start < hi])
    threshold = threshold_ms / 1000.0
    edges = [lo] + [x for iv in sounding for x in iv] + [hi]
    gaps = [edges[i + 1] - edges[i] for i in range(0, len(edges), 2)]
    return sum(g for g in gaps if g > 0 and g >= threshold - EPS) / (hi - lo)


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Shannon entropy in bits of the pitch-class histogram (note counts): ``-sum p log2 p``.

    Range 0 (one pitch class) to log2(12) ~ 3.585 (all equally often). No notes -> 0.0.
    """
    if not notes:
        return 0.0
    counts = Counter(n.pitch % 12 for n in notes)
    total = len(notes)
    return -sum(c / total * math.log2(c / total) for c in counts.values()) + 0.0


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest share of notes (counts) whose pitch class lies in one key's scale.

    ``max over 24 keys (12 major, 12 natural minor) of #{notes in scale} / n``. A natural minor
    scale holds the pitch classes of its relative major, so the 24 keys give 12 distinct sets;
    kept as 24 to match the usual definition (MusPy, Music Transformer papers). No notes -> 0.0.
    """
    if not notes:
        return 0.0
    counts = Counter(n.pitch % 12 for n in notes)
    best = max(sum(c for pc, c in counts.items() if pc in scale) for scale in KEY_SCALES)
    return best / len(notes)


def polyphony(notes: Sequence[Note]) -> float:
    """Mean number of distinct pitches sounding while any sounds.

    ``integral of k(t) dt / |{t : k(t) > 0}|``, with k(t) the number of distinct pitches
    sounding at t (overlapping notes of one pitch count once). Zero-length notes add nothing.
    No notes or no sounding time -> 0.0.
    """
    events: list[tuple[float, int, int]] = []
    for n in notes:
        if n.end > n.start:
            events.append((n.start, 1, n.pitch))
            events.append((n.end, -1, n.pitch))
    events.sort()
    active: Counter[int] = Counter()
    sounding_time = weighted = 0.0
    prev = None
    for t, delta, pitch in events:
        if prev is not None and t > prev:
            k = len(active)
            if k:
                sounding_time += t - prev
                weighted += k * (t - prev)
        prev = t
        active[pitch] += delta
        if active[pitch] == 0:
            del active[pitch]
    return weighted / sounding_time if sounding_time > 0 else 0.0


def pitch_range(notes: Sequence[Note]) -> float:
    """``max pitch - min pitch`` in semitones. No notes -> 0.0."""
    if not notes:
        return 0.0
    pitches = [n.pitch for n in notes]
    return float(max(pitches) - min(pitches))


def pitch_mean(notes: Sequence[Note]) -> float:
    """Mean MIDI pitch: the register. A solo an octave below its artist can have the right range,
    pitch classes and rhythm; only this sees it. No notes -> 0.0."""
    return sum(n.pitch for n in notes) / len(notes) if notes else 0.0


def _log_durations(notes: Sequence[Note]) -> list[float]:
    # Natural log of each length in seconds, floored at one 10 ms tick (a zero-length note has no log).
    return sorted(math.log(max(n.end - n.start, 0.01)) for n in notes)


def held_share(notes: Sequence[Note], seconds: float = HELD_SECONDS) -> float:
    """Share of notes lasting longer than ``seconds`` (4 s): a model that opens notes and never
    closes them shows here (real right hands: about 0.5 %). No notes -> 0.0."""
    return sum(n.end - n.start > seconds for n in notes) / len(notes) if notes else 0.0


def log_duration_median(notes: Sequence[Note]) -> float:
    """Median of ln(note length in s). No notes -> 0.0."""
    logs = _log_durations(notes)
    return statistics.median(logs) if logs else 0.0


def log_duration_iqr(notes: Sequence[Note]) -> float:
    """Interquartile range of ln(note length in s) (numpy's linear percentiles). < 2 notes -> 0.0."""
    logs = _log_durations(notes)
    if len(logs) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(logs, n=4, method="inclusive")
    return q3 - q1


def _iois(notes: Sequence[Note]) -> list[float]:
    # Distinct onsets on the model's 10 ms grid, so a chord (one onset) is one event.
    ticks = sorted({to_tick(n.start) for n in notes})
    return [(b - a) / 100.0 for a, b in zip(ticks, ticks[1:])]


def ioi_mean(notes: Sequence[Note]) -> float:
    """Mean inter-onset interval in seconds between distinct onsets on the 10 ms grid.

    Fewer than 2 distinct onsets -> 0.0.
    """
    iois = _iois(notes)
    return sum(iois) / len(iois) if iois else 0.0


def ioi_std(notes: Sequence[Note]) -> float:
    """Population standard deviation (ddof 0) of the inter-onset intervals of :func:`ioi_mean`.

    Fewer than 2 distinct onsets -> 0.0.
    """
    iois = _iois(notes)
    if not iois:
        return 0.0
    mean = sum(iois) / len(iois)
    return math.sqrt(sum((x - mean) ** 2 for x in iois) / len(iois))


def _reach(
    conditioning: Sequence[Note], window_s: float, transpose: int = 0
) -> tuple[dict[int, list[tuple[float, float]]], dict[int, list[float]]]:
    """Per pitch class: the merged spans [start - w, end + w] of the conditioning (shifted by
    ``transpose``), and their starts (for bisect). Shared by harmonic_fit and onset_fit."""
    spans: dict[int, list[tuple[float, float]]] = {}
    for n in conditioning:
        spans.setdefault((n.pitch + transpose) % 12, []).append((n.start - window_s, n.end + window_s))
    merged = {pc: _union(iv) for pc, iv in spans.items()}
    return merged, {pc: [lo for lo, _ in iv] for pc, iv in merged.items()}


def harmonic_fit(
    lead: Sequence[Note],
    conditioning: Sequence[Note],
    window_s: float = HARMONIC_WINDOW_S,
    transpose: int = 0,
) -> float:
    """Share of lead note-time whose pitch class sounds in the conditioning within +-window_s.

    A lead instant t of pitch class c is *fitting* if some conditioning note of pitch class
    (c - transpose) mod 12 sounds somewhere in [t - w, t + w], i.e. t lies in
    [cond.start - w, cond.end + w]. Result: ``fitting lead time / total lead time``
    (``transpose`` shifts the conditioning, for :func:`harmonic_fit_gain`). No lead time -> 0.0.
    """
    merged, starts = _reach(conditioning, window_s, transpose)
    total = fitting = 0.0
    for n in lead:
        dur = n.end - n.start
        if dur <= 0:
            continue
        total += dur
        ivs = merged.get(n.pitch % 12)
        if not ivs:
            continue
        i = max(0, bisect.bisect_right(starts[n.pitch % 12], n.start) - 1)
        while i < len(ivs) and ivs[i][0] < n.end:
            fitting += max(0.0, min(n.end, ivs[i][1]) - max(n.start, ivs[i][0]))
            i += 1
    return fitting / total if total > 0 else 0.0


def onset_fit(lead: Sequence[Note], conditioning: Sequence[Note], window_s: float = ONSET_WINDOW_S) -> float:
    """Share of lead onsets whose pitch class sounds in the conditioning within +-window_s (100 ms).

    :func:`harmonic_fit` at the onset instant only, with a window short enough to see a solo
    that harmonises the previous chord (a 250 ms lag; +-1 s cannot). An onset at t of pitch
    class c fits if a conditioning note of class c spans part of [t - w, t + w]. Counted per
    note (a chord's notes each count). No lead notes -> 0.0.
    """
    if not lead:
        return 0.0
    merged, starts = _reach(conditioning, window_s)
    fitting = 0
    for n in lead:
        ivs = merged.get(n.pitch % 12)
        if ivs:
            i = bisect.bisect_right(starts[n.pitch % 12], n.start + EPS) - 1
            fitting += i >= 0 and n.start <= ivs[i][1] + EPS
    return fitting / len(lead)


def harmonic_fit_gain(lead: Sequence[Note], conditioning: Sequence[Note], window_s: float = HARMONIC_WINDOW_S) -> float:
    """``harmonic_fit(lead, cond) - harmonic_fit(lead, cond transposed by a tritone)``.

    A tritone is the most distant transposition of a harmony, so the difference measures how
    much the lead follows *this* conditioning rather than just using common pitch classes.
    Positive for a lead that listens; about 0 for one that ignores its conditioning.
    """
    return harmonic_fit(lead, conditioning, window_s) - harmonic_fit(lead, conditioning, window_s, TRITONE)


def semitone_fit_gain(lead: Sequence[Note], conditioning: Sequence[Note], window_s: float = HARMONIC_WINDOW_S) -> float:
    """``harmonic_fit(lead, cond)`` minus its mean over the conditioning a semitone up and down.

    Reported beside :func:`harmonic_fit_gain`, not ranked on: in jazz the tritone control shares
    a dominant's third and seventh with it (its tritone substitute), so a real right hand barely
    beats it (dev data, Cedar Walton, 10 min: +0.007), while a semitone away shares almost nothing
    (+0.105 on the same music). The guidance of generation contrasts with a semitone down too.
    """
    moved = (harmonic_fit(lead, conditioning, window_s, 1) + harmonic_fit(lead, conditioning, window_s, -1)) / 2
    return harmonic_fit(lead, conditioning, window_s) - moved


def grammar_error_total(errors: dict[str, int] | None) -> int | None:
    """Sum of the counts of :func:`jazz_solo.data.tokens.count_grammar_errors` (None when not applicable)."""
    return None if errors is None else int(sum(errors.values()))


# Metrics of one sample, in the order they are reported. Each maps (lead, conditioning, span,
# threshold_ms) to a float; realism_distance averages over all of them.
NOTE_METRICS = {
    "dead_air_ratio": lambda lead, cond, span, thr: dead_air_ratio(lead, thr),
    "repetition_4gram": lambda lead, cond, span, thr: repetition_4gram(lead),
    "note_density": lambda lead, cond, span, thr: note_density(lead),
    "silence_ratio": lambda lead, cond, span, thr: silence_ratio(lead, thr, span),
    "pitch_class_entropy": lambda lead, cond, span, thr: pitch_class_entropy(lead),
    "scale_consistency": lambda lead, cond, span, thr: scale_consistency(lead),
    "polyphony": lambda lead, cond, span, thr: polyphony(lead),
    "pitch_range": lambda lead, cond, span, thr: pitch_range(lead),
    "pitch_mean": lambda lead, cond, span, thr: pitch_mean(lead),
    "held_share": lambda lead, cond, span, thr: held_share(lead),
    "log_duration_median": lambda lead, cond, span, thr: log_duration_median(lead),
    "log_duration_iqr": lambda lead, cond, span, thr: log_duration_iqr(lead),
    "ioi_mean": lambda lead, cond, span, thr: ioi_mean(lead),
    "ioi_std": lambda lead, cond, span, thr: ioi_std(lead),
    "harmonic_fit": lambda lead, cond, span, thr: harmonic_fit(lead, cond),
    "harmonic_fit_gain": lambda lead, cond, span, thr: harmonic_fit_gain(lead, cond),
    "onset_fit": lambda lead, cond, span, thr: onset_fit(lead, cond),
}


def sample_metrics(
    lead: Sequence[Note],
    conditioning: Sequence[Note],
    threshold_ms: float,
    span: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Every metric of :data:`NOTE_METRICS` for one lead over its conditioning.

    ``span`` (for silence_ratio) defaults to the extent of lead and conditioning together.
    """
    if span is None:
        both = [*lead, *conditioning]
        span = (min(n.start for n in both), max(n.end for n in both)) if both else (0.0, 0.0)
    return {name: float(fn(lead, conditioning, span, threshold_ms)) for name, fn in NOTE_METRICS.items()}
