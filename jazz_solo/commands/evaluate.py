"""``python -m jazz_solo evaluate DIR [--reference REF] --output metrics.json``: score any MIDI folder.

Files with tracks named "solo"/"comping" use them as lead/conditioning; other files are split at
``--split-pitch``. REF is a reference.json (from the pipeline's ``reference`` rule, or a
metrics.json whose ``reference`` block is reused) or a folder of real MIDI scored the same way.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import _checks
from ..evaluation import scoring
from ..config import load_config
from ..settings import Settings
from . import add_config, add_output


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="score a folder of MIDI solos (metrics.json)", description=__doc__)
    p.add_argument("directory", type=Path, help="folder of MIDI files (searched recursively)")
    p.add_argument("--reference", type=Path, help="reference.json, or a folder of real MIDI to compare with")
    p.add_argument("--split-pitch", type=int, help="one-track files: notes <= N are conditioning (default: data.split_pitch)")
    p.add_argument("--threshold-ms", type=float, help="dead-air/silence threshold (default: evaluate.dead_air_threshold_ms)")
    p.add_argument("--max-seconds", type=float, help="score only the first N seconds of every file")
    add_output(p, "metrics.json to write", required=True)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = Settings.from_config(load_config(*args.config))
    if args.split_pitch is None:
        args.split_pitch = settings.data.split_pitch
    if args.threshold_ms is None:
        args.threshold_ms = float(settings.evaluate.dead_air_threshold_ms)
    if not 0 <= args.split_pitch <= 127:
        raise ValueError(f"--split-pitch {args.split_pitch}: must be a MIDI pitch 0-127")
    _checks.number("--threshold-ms", args.threshold_ms, 0)
    _checks.number("--max-seconds", args.max_seconds, 0, None, low_inclusive=False)
    _checks.output_file("--output", args.output)
    if not args.directory.is_dir():
        raise ValueError(f"{args.directory}: not a folder")
    if args.reference is not None and not args.reference.exists():
        raise ValueError(f"--reference {args.reference}: no such file or folder")
    reference = None
    if args.reference is not None:
        if args.reference.is_dir():
            rows = scoring.score_folder(args.reference, args.split_pitch, args.threshold_ms, args.max_seconds)
            reference = {**scoring.reference_stats(rows), "split_pitch": args.split_pitch,
                         "max_seconds": args.max_seconds}
        else:
            reference = scoring.load_reference(args.reference)
    result = scoring.evaluate_folder(
        args.directory, reference, args.split_pitch, args.threshold_ms, args.max_seconds
    )
    scoring.write_json(args.output, result)
    s = result["summary"]
    distance = result["realism_distance"]
    print(
        f"{s['num_samples']} files scored ({s['num_failed']} unreadable) -> {args.output}: "
        f"dead_air {_fmt(s['avg_dead_air_ratio'])}, harmonic_fit_gain {_fmt(s['avg_harmonic_fit_gain'])}, "
        f"realism_distance {_fmt(distance)}; status {result['status']}"
    )
    return 0 if result["status"] == "ok" else 1


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
