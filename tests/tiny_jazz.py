"""A tiny real-music fixture, made by code (deterministic, no files to fetch): a few bars of
two-hand jazz piano, so the real-music checks (token round trips, realism separating real from
random) also run where ../shared/data is absent.

Left hand (every note <= SPLIT_PITCH): a ii-V-I with a VI7 turnaround (Dm9 | G13 | Cmaj9 | A7b9,
transposed by ``key``) in rootless voicings over a spread root, comped in varied rhythms
(Charleston, anticipations of the next bar, held whole-bar chords, a walking fifth), each chord
slightly rolled, with human timing jitter and velocity variation.

Right hand (every note > SPLIT_PITCH): phrases of swung eighths from the chord's scale, chord
tones on the beats, chromatic approach notes, triplet turns, staccato and legato notes, a dyad
now and then, accents on the high notes, rests between phrases and a long note at each phrase end.
"""
from __future__ import annotations

import math
import random

from jazz_solo.data.tokens import Note

SPLIT_PITCH = 60
BASS = (38, 43, 36, 45)  # D G C A
VOICINGS = ((48, 52, 53, 57), (47, 52, 53, 57), (47, 50, 52, 55), (49, 55, 58))  # C E F A | B E F A | B D E G | C# G Bb
CHORD_TONES = ((2, 5, 9, 0, 4), (7, 11, 2, 5), (0, 4, 7, 11, 2), (9, 1, 4, 7, 10))
SCALES = ((0, 2, 4, 5, 7, 9, 11),) * 3 + ((2, 4, 5, 7, 9, 10, 1),)  # C major; D harmonic minor over A7b9
LEAD_RANGE = (62, 86)


def jazz_piece(bars: int = 4, seed: int = 0, key: int = 0, bpm: float = 132.0) -> list[Note]:
    """Both hands, ``bars`` bars of 4/4 at ``bpm``, in C transposed by ``key`` (-5..0 keeps the
    comping at or below SPLIT_PITCH); sorted by onset, then pitch."""
    if not -5 <= key <= 0:
        raise ValueError("key must be in -5..0 (the comping's top note is SPLIT_PITCH)")
    rng = random.Random(seed)
    beat = 60.0 / bpm
    notes = _comping(rng, bars, beat) + _lead(rng, bars, beat)
    notes = [n._replace(pitch=n.pitch + key) for n in notes]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def _human(rng: random.Random, t: float, spread: float = 0.012) -> float:
    return max(0.0, t + rng.gauss(0.0, spread))


def _comping(rng: random.Random, bars: int, beat: float) -> list[Note]:
    notes = []

    def chord(at: float, length: float, bar: int, loud: int) -> None:
        start = _human(rng, at)
        for i, pitch in enumerate(VOICINGS[bar % 4]):
            on = start + i * rng.uniform(0.003, 0.012)  # rolled, bottom up
            notes.append(Note(on, on + length * rng.uniform(0.85, 1.0), pitch, max(30, loud + rng.randint(-6, 6))))

    for bar in range(bars):
        t0 = bar * 4 * beat
        root = BASS[bar % 4]
        loud = rng.randint(45, 80)
        notes.append(Note(_human(rng, t0), t0 + beat * rng.uniform(1.8, 3.6), root, loud + 4))
        pattern = rng.choice(["charleston", "anticipate", "hold", "two_and_four"])
        if pattern == "charleston":
            chord(t0, beat * 1.2, bar, loud)
            chord(t0 + 1.5 * beat, beat * rng.uniform(0.4, 2.2), bar, loud - 5)
        elif pattern == "anticipate" and bar + 1 < bars:
            chord(t0 + 0.02, beat * 2.5, bar, loud)
            chord(t0 + 3.5 * beat, beat * 0.45, bar + 1, loud + 6)  # the next bar's chord, pushed
        elif pattern == "hold":
            chord(t0, beat * rng.uniform(3.2, 3.9), bar, loud - 8)
        else:
            chord(t0 + beat, beat * 0.35, bar, loud)
            chord(t0 + 3 * beat, beat * 0.6, bar, loud + 4)
            notes.append(Note(_human(rng, t0 + 2 * beat), t0 + 2.9 * beat, root + 7, loud))  # the fifth
    return notes


def _near(pitch: int, pcs: tuple[int, ...], direction: int) -> int:
    """The nearest pitch of the classes ``pcs`` from ``pitch`` (exclusive) in ``direction``."""
    p = pitch + direction
    while p % 12 not in pcs:
        p += direction
    return p


def _lead(rng: random.Random, bars: int, beat: float) -> list[Note]:
    notes = []
    end = bars * 4 * beat
    t = rng.choice([0.0, 2 / 3, 1.0])  # in beats from the start (a pickup or on the beat)
    pitch, direction = rng.randint(70, 78), rng.choice([-1, 1])
    while t * beat < end - beat:
        base = rng.randint(60, 100)
        phrase_beats = rng.choice([4, 5, 6, 8])
        stop = min(t + phrase_beats, bars * 4 - 1)
        while t < stop:
            bar = int(t // 4)
            scale, tones = SCALES[bar % 4], CHORD_TONES[bar % 4]
            if not LEAD_RANGE[0] + 3 < pitch < LEAD_RANGE[1] - 3:
                direction = 1 if pitch <= LEAD_RANGE[0] + 3 else -1
            elif rng.random() < 0.2:
                direction = -direction
            on_beat = abs(t - round(t)) < 1e-6
            if rng.random() < 0.12 and on_beat:  # a triplet turn around a chord tone
                target = _near(pitch, tones, direction)
                for k, p in enumerate((target + 2, target, target - 1)):
                    at = (t + k / 3) * beat
                    notes.append(Note(_human(rng, at, 0.008), at + beat / 3 * 0.85, p, _velocity(rng, base, p) - 4))
                pitch, t = target - 1, t + 1
                continue
            if on_beat:
                pitch = _near(pitch, tones, direction) if rng.random() < 0.8 else pitch + direction * rng.choice([3, 4])
            elif rng.random() < 0.2:  # chromatic approach to the next chord tone
                pitch = _near(pitch, tones, direction) - direction
            else:
                pitch = _near(pitch, scale, direction)
            length = rng.uniform(0.6, 0.68) if on_beat else math.floor(t) + 1 - t  # swung: long, short
            legato = rng.choice([0.95, 0.9, 0.8, 0.5])
            at = t * beat
            vel = _velocity(rng, base, pitch) - (0 if on_beat else 12)  # ghosted off-beats
            notes.append(Note(_human(rng, at), at + length * beat * legato, pitch, vel))
            t += length if rng.random() < 0.93 else length + 1  # now and then a skipped beat
        # the phrase ends on a long chord tone, sometimes with a third or sixth below
        bar = int(min(t, bars * 4 - 1) // 4)
        pitch = _near(pitch, CHORD_TONES[bar % 4], -1)
        at = t * beat
        hold = rng.uniform(0.8, 2.6)
        notes.append(Note(_human(rng, at), min(at + hold, end + 1.0), pitch, _velocity(rng, base, pitch)))
        if rng.random() < 0.35:
            under = _near(pitch - 2, SCALES[bar % 4], -1)
            if under > SPLIT_PITCH:
                notes.append(Note(_human(rng, at + 0.01, 0.005), min(at + hold * 0.9, end + 1.0), under,
                                  _velocity(rng, base, pitch) - 12))
        t += hold / beat + rng.choice([0.5, 1.0, 1.5])  # breathe
        t = round(t * 3) / 3  # back on the swung-eighth grid
    return [n for n in notes if n.start < end]


def _velocity(rng: random.Random, base: int, pitch: int) -> int:
    return max(25, min(124, int(base + 0.8 * (pitch - 74) + rng.gauss(0, 8))))
