"""Reading and writing MIDI files as lists of :class:`~jazz_solo.data.tokens.Note`."""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pretty_midi

from .tokens import Note


class MidiError(ValueError):
    """A MIDI file that cannot be used; the message names the file and the reason."""


def _check_header(path: Path) -> None:
    """Refuse what pretty_midi would misread: SMPTE time division (it assumes ticks per beat and
    reports a misleading "Note end time must be greater than start time") or zero ticks per beat."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(14)
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(head) == 14 and head[:4] == b"MThd":
        division = int.from_bytes(head[12:14], "big")
        if division & 0x8000:
            raise MidiError(f"{path}: SMPTE time division (frames per second) is not supported")
        if division == 0:
            raise MidiError(f"{path}: zero ticks per beat in the header")
        if head[10:12] == b"\x00\x00":
            raise MidiError(f"{path}: no tracks (the header counts 0)")


def _read(path: Path) -> pretty_midi.PrettyMIDI:
    if not path.is_file():
        raise MidiError(f"{path}: no such file")
    _check_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about odd meta events
            return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many types for corrupt files
        # mido says EOFError with no text for a file cut short
        reason = str(exc).splitlines()[0] if str(exc) else "truncated: " + type(exc).__name__
        raise MidiError(f"{path}: not a readable MIDI file ({reason})") from None


def load_notes(path: str | Path) -> list[Note]:
    """All pitched (non-drum) notes of a MIDI file, sorted by onset then pitch.

    Raises :class:`MidiError` (one line, naming the file) for files that are unreadable,
    drum-only, empty or of zero length.
    """
    path = Path(path)
    pm = _read(path)
    pitched = [inst for inst in pm.instruments if not inst.is_drum]
    if pm.instruments and not pitched:
        raise MidiError(f"{path}: drum-only file")
    raw = [n for inst in pitched for n in inst.notes]
    # A zero-length note is no sound and cannot be tokenized: such a file has no usable notes.
    notes = [Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity)) for n in raw if n.end > n.start]
    if not notes:
        raise MidiError(f"{path}: {'only zero-length notes' if raw else 'no notes'}")
    if max(n.end for n in notes) - min(n.start for n in notes) <= 0:
        raise MidiError(f"{path}: zero length")
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def load_tracks(path: str | Path) -> dict[str, list[Note]]:
    """Pitched notes per track name (e.g. ``{"comping": [...], "solo": [...]}``), each sorted.

    Tracks sharing a name are merged; unnamed tracks are keyed ``""``. A track without notes
    is absent (MIDI readers drop empty tracks). Unreadable files raise :class:`MidiError`.
    """
    path = Path(path)
    tracks: dict[str, list[Note]] = {}
    for inst in _read(path).instruments:
        if not inst.is_drum:
            tracks.setdefault(inst.name.strip(), []).extend(
                Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity)) for n in inst.notes if n.end > n.start
            )
    for notes in tracks.values():
        notes.sort(key=lambda n: (n.start, n.pitch))
    return {name: notes for name, notes in tracks.items() if notes}


def split_roles(notes: Iterable[Note], split_pitch: int) -> tuple[list[Note], list[Note]]:
    """(conditioning, lead): notes with pitch <= split_pitch, and those above it."""
    cond, lead = [], []
    for n in notes:
        (cond if n.pitch <= split_pitch else lead).append(n)
    return cond, lead


def write_midi(path: str | Path, tracks: Mapping[str, Iterable[Note]], program: int = 0) -> Path:
    """Write one piano track per entry of ``tracks`` (name -> notes) as a standard MIDI file.

    The file has a 120 bpm tempo and named tracks, as DAWs expect.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for name, notes in tracks.items():
        inst = pretty_midi.Instrument(program=program, name=name)
        for n in notes:
            inst.notes.append(
                pretty_midi.Note(velocity=int(n.velocity), pitch=int(n.pitch), start=float(n.start), end=float(n.end))
            )
        pm.instruments.append(inst)
    pm.write(str(path))
    return path
