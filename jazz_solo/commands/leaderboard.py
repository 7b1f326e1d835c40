"""``python -m jazz_solo leaderboard [--config CONFIG.yaml ...] [--results DIR] [-o OUT.tsv]``: the sweep
leaderboard from whatever metrics exist now.

The ``leaderboard`` rule only runs once every candidate has its metrics.json; after a
``--keep-going`` run in which some candidates failed, this lists those as failed (no metrics.json)
and ranks the rest, with the same rule and the same config (config.yaml + the given overrides).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import paths
from ..selection import board, leaderboard
from ..config import load_config
from ..settings import Settings
from . import add_config, add_output


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("leaderboard", help="rank the sweep's candidates from the metrics on disk", description=__doc__)
    add_config(p)
    p.add_argument("configs", nargs="*", type=Path, help=argparse.SUPPRESS)  # older spelling of --config
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS), help="results folder (results)")
    add_output(p, "also write the full leaderboard TSV here", "--tsv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(*args.configs, *args.config)
    select = Settings.from_config(config).select
    candidates = leaderboard.candidate_ids(config)
    metrics = [paths.file("metrics", c, root=args.results) for c in candidates]
    frame = leaderboard.gather(candidates, metrics, select.rule, select.min_notes)
    frame, notes = board.complete(frame, **board.inputs(args.results, config))  # flags + calibration rows
    if args.output:
        leaderboard.write(frame, args.output)
    print(leaderboard.markdown(frame, notes))
    return 0
