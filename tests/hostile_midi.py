"""Kinds of broken or odd MIDI, built in the test from raw bytes or mido (test_hostile.py).

Each kind is ``(bytes, usable)``: usable files must be accepted everywhere (ingest, evaluate,
the server), the others refused everywhere with a reason, and nothing may raise a traceback.
"""
from __future__ import annotations

import gzip
import io
from collections.abc import Callable

import mido

TPB = 480


def varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def header(fmt: int = 0, ntracks: int = 1, division: int = TPB, length: int = 6) -> bytes:
    return b"MThd" + length.to_bytes(4, "big") + fmt.to_bytes(2, "big") + ntracks.to_bytes(2, "big") + division.to_bytes(2, "big")


def chunk(events: bytes, tag: bytes = b"MTrk", length: int | None = None) -> bytes:
    return tag + (len(events) if length is None else length).to_bytes(4, "big") + events


END = b"\x00\xff\x2f\x00"


def raw_notes(pairs: list[tuple[int, int]], channel: int = 0, dur: int = TPB // 2, velocity: int = 80) -> bytes:
    """note_on/note_off events, one note at a time: (delta before the note, pitch)."""
    out = b""
    for delta, pitch in pairs:
        out += varlen(delta) + bytes([0x90 | channel, pitch, velocity]) + varlen(dur) + bytes([0x80 | channel, pitch, 0])
    return out


TWO_HANDS = [(0, 48), (0, 72), (0, 52), (0, 76), (0, 55), (0, 74), (0, 50), (0, 77)] * 3


def mido_bytes(tracks: list[list[mido.Message | mido.MetaMessage]], ticks: int = TPB, fmt: int = 1) -> bytes:
    mid = mido.MidiFile(type=fmt, ticks_per_beat=ticks)
    for msgs in tracks:
        mid.tracks.append(mido.MidiTrack(msgs))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def piece(pitches: list[int] | None = None, channel: int = 0, step: int = TPB // 2, velocity: int = 80,
          offset: int = 0, tempo: int = 500_000) -> list[mido.Message | mido.MetaMessage]:
    """A short two-hand line (left below 60, right above) with a tempo, as mido messages."""
    msgs: list = [mido.MetaMessage("set_tempo", tempo=tempo, time=0)]
    first = True
    for p in pitches or [48, 72, 52, 76, 55, 74, 50, 77] * 3:
        msgs.append(mido.Message("note_on", note=p, velocity=velocity, channel=channel, time=offset if first else 0))
        msgs.append(mido.Message("note_off", note=p, velocity=0, channel=channel, time=step))
        first = False
    return msgs


def good() -> bytes:
    return mido_bytes([piece()])


def _kinds() -> dict[str, tuple[Callable[[], bytes], bool]]:
    ok = header() + chunk(raw_notes(TWO_HANDS) + END)
    return {
        # --- unreadable / malformed containers -------------------------------------------
        "empty_file": (lambda: b"", False),
        "random_bytes": (lambda: bytes(range(256)) * 8, False),
        "text_file": (lambda: b"this is not a MIDI file\n" * 20, False),
        "header_only": (lambda: header(), False),
        "truncated_header": (lambda: header()[:9], False),
        "header_length_wrong": (lambda: header(length=2) + chunk(raw_notes(TWO_HANDS) + END), False),
        "zero_tracks": (lambda: header(ntracks=0), False),
        "track_truncated_mid_event": (lambda: ok[: len(ok) - 40], False),
        "track_length_past_eof": (lambda: header() + chunk(raw_notes(TWO_HANDS) + END, length=10_000), False),
        "bad_chunk_tag": (lambda: header() + chunk(raw_notes(TWO_HANDS) + END, tag=b"XXXX"), False),
        "smpte_division": (lambda: header(division=0xE728) + chunk(raw_notes(TWO_HANDS) + END), False),
        "zero_ticks_per_beat": (lambda: header(division=0) + chunk(raw_notes(TWO_HANDS) + END), False),
        "riff_rmid_wrapper": (lambda: b"RIFF" + (len(ok) + 12).to_bytes(4, "little") + b"RMIDdata"
                              + len(ok).to_bytes(4, "little") + ok, False),
        "gzip_compressed": (lambda: gzip.compress(good(), mtime=0), False),
        "undefined_status_byte": (lambda: header() + chunk(b"\x00\xf4\x01\x02" + raw_notes(TWO_HANDS) + END), False),
        # --- readable, but no usable notes ------------------------------------------------
        "no_events": (lambda: header() + chunk(END), False),
        "meta_only": (lambda: mido_bytes([[mido.MetaMessage("set_tempo", tempo=400_000),
                                           mido.MetaMessage("time_signature", numerator=3, denominator=4),
                                           mido.MetaMessage("track_name", name="meta")]]), False),
        "sysex_only": (lambda: mido_bytes([[mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])] * 3]), False),
        "control_changes_only": (lambda: mido_bytes([[mido.Message("control_change", control=64, value=v, time=120)
                                                      for v in (127, 0, 127, 0)]]), False),
        "pitchbend_aftertouch_only": (lambda: mido_bytes([[mido.Message("pitchwheel", pitch=1000, time=60),
                                                           mido.Message("aftertouch", value=50, time=60)]]), False),
        "drum_only": (lambda: mido_bytes([piece(channel=9)]), False),
        "zero_length_notes": (lambda: mido_bytes([piece(step=0)]), False),
        "note_off_only": (lambda: mido_bytes([[mido.Message("note_off", note=60, time=100)] * 8]), False),
        "velocity_zero_note_ons": (lambda: mido_bytes([[mido.Message("note_on", note=60 + k, velocity=0, time=100)
                                                        for k in range(8)]]), False),
        "program_change_only": (lambda: mido_bytes([[mido.Message("program_change", program=5)]]), False),
        "empty_tracks_format1": (lambda: mido_bytes([[], [], []]), False),
        # --- odd but usable ----------------------------------------------------------------
        "plain_good": (good, True),
        "format_0": (lambda: mido_bytes([piece()], fmt=0), True),
        "format_2": (lambda: mido_bytes([piece(), piece()], fmt=2), True),
        "raw_running_status": (lambda: header() + chunk(b"\x00\x90\x30\x50" + b"\x60\x30\x00" + b"\x00\x48\x50"
                                                        + b"\x60\x48\x00" + END), True),
        "no_end_of_track": (lambda: header() + chunk(raw_notes(TWO_HANDS)), True),
        "trailing_garbage": (lambda: good() + b"\x00garbage" * 10, True),
        "hanging_notes_plus_good": (lambda: mido_bytes([piece() + [mido.Message("note_on", note=90, velocity=90)]]), True),
        "extreme_fast_tempo": (lambda: mido_bytes([piece(tempo=1)]), True),
        "extreme_slow_tempo": (lambda: mido_bytes([piece(tempo=0xFFFFFF)]), True),
        "huge_delta_time": (lambda: mido_bytes([piece(offset=5_000_000)]), True),
        "ticks_per_beat_1": (lambda: mido_bytes([piece(step=1)], ticks=1), True),
        "ticks_per_beat_32767": (lambda: mido_bytes([piece(step=16000)], ticks=32767), True),
        "pitch_extremes_0_127": (lambda: mido_bytes([piece([0, 127, 1, 126, 0, 127])]), True),
        "velocity_1": (lambda: mido_bytes([piece(velocity=1)]), True),
        "all_16_channels": (lambda: mido_bytes([piece(channel=c) for c in range(16) if c != 9]), True),
        "hundred_empty_tracks_one_full": (lambda: mido_bytes([[]] * 100 + [piece()]), True),
        "drums_plus_piano": (lambda: mido_bytes([piece(channel=9), piece()]), True),
        "latin1_track_name": (lambda: header() + chunk(b"\x00\xff\x03\x05Caf\xe9!" + raw_notes(TWO_HANDS) + END), True),
        "overlapping_same_pitch": (lambda: mido_bytes([[mido.Message("note_on", note=60, velocity=80),
                                                        mido.Message("note_on", note=60, velocity=80, time=100),
                                                        mido.Message("note_off", note=60, time=100),
                                                        mido.Message("note_off", note=60, time=100)] + piece()]), True),
        "only_lead_hand": (lambda: mido_bytes([piece([72, 74, 76, 77] * 4)]), True),
        "only_left_hand": (lambda: mido_bytes([piece([36, 40, 43, 48] * 4)]), True),
        "single_note": (lambda: mido_bytes([piece([48])]), True),
    }


KINDS = _kinds()
USABLE = sorted(k for k, (_, usable) in KINDS.items() if usable)
UNUSABLE = sorted(k for k, (_, usable) in KINDS.items() if not usable)


def build(kind: str) -> bytes:
    return KINDS[kind][0]()
