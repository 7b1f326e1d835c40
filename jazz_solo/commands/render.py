"""``python -m jazz_solo render IN.mid [-o OUT.opus]``: hear a solo (FluidSynth + a GM SoundFont).

Tracks named "comping" and "solo" (every generated file) are panned left and right; other files
are split at ``--split-pitch``. IN may be a folder: every .mid/.midi in it (recursively) is
rendered, into OUT (a folder) or beside each file. The format follows OUT's suffix: .opus
(default, small), .ogg (Vorbis), .flac, .wav.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..listening import audio
from ..config import load_config
from ..data.midi_io import MidiError
from ..settings import Settings
from . import add_config, add_output

MIDI_SUFFIXES = (".mid", ".midi")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("render", help="render MIDI to audio (Opus) with FluidSynth", description=__doc__)
    p.add_argument("input", type=Path, help="a MIDI file, or a folder of them")
    add_output(p, "audio file (or folder, for a folder input); default: IN.opus")
    p.add_argument("--split-pitch", type=int, help="one-track files: notes <= N are comping (default: data.split_pitch)")
    p.add_argument("--soundfont", type=Path, help="a .sf2/.sf3 SoundFont (default: $JAZZ_SOLO_SOUNDFONT or the system GM font)")
    add_config(p)
    p.set_defaults(func=run)


def _jobs(src: Path, out: Path | None) -> list[tuple[Path, Path]]:
    """(midi, audio) pairs; a folder keeps its sub-folders under OUT."""
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if src.is_file():
        target = out if out is not None else src.with_suffix(".opus")
        if target.is_dir() or not target.suffix:  # -o DIR/
            target = target / (src.stem + ".opus")
        return [(src, target)]
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{src}: no .mid/.midi files in this folder")
    if out is not None and out.suffix:
        raise ValueError(f"{out}: a folder input needs an output folder, not a file")
    return [(f, (out / f.relative_to(src) if out else f).with_suffix(".opus")) for f in files]


def run(args: argparse.Namespace) -> int:
    if args.split_pitch is None:
        args.split_pitch = Settings.from_config(load_config(*args.config)).data.split_pitch
    if not 0 <= args.split_pitch <= 127:
        raise ValueError(f"--split-pitch {args.split_pitch}: must be a MIDI pitch 0-127")
    if args.output is not None and args.output.suffix and args.output.suffix.lower() not in audio.FORMATS:
        raise ValueError(f"{args.output}: unsupported audio suffix (use one of {', '.join(audio.FORMATS)})")
    jobs = _jobs(args.input, args.output)
    try:
        synth = audio.require_synth(args.soundfont)
    except audio.SynthMissing as exc:
        print(f"jazz-solo render: {exc}", file=sys.stderr)
        return 3
    failed = 0
    for midi, out in jobs:
        t0 = time.perf_counter()
        try:
            audio.render(midi, out, synth, args.split_pitch)
        except (MidiError, ValueError, RuntimeError) as exc:  # one bad file must not stop a folder
            failed += 1
            print(f"jazz-solo render: {midi}: {exc}" if str(midi) not in str(exc) else f"jazz-solo render: {exc}",
                  file=sys.stderr)
            continue
        print(f"{midi} -> {out} ({out.stat().st_size / 1024:.0f} kB, {time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0
