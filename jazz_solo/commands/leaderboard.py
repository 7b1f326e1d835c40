"""``python -m jazz_solo leaderboard [CONFIG.yaml ...] [--results DIR] [--tsv OUT.tsv]``: the sweep
leaderboard from whatever metrics exist now.

The ``leaderboard`` rule only runs once every candidate has its metrics.json; after a
``--keep-going`` run in which some candidates failed, this lists those as failed (no metrics.json)
and ranks the rest, with the same rule and the same config (config.yaml + the given overrides).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import board, leaderboard
from ..config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("leaderboard", help="rank the sweep's candidates from the metrics on disk", description=__doc__)
    p.add_argument("configs", nargs="*", type=Path, help="config overrides merged over config.yaml (as --configfile)")
    p.add_argument("--results", type=Path, default=Path("results"), help="results folder (results)")
    p.add_argument("--tsv", type=Path, help="also write the full leaderboard TSV here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(*args.configs)
    candidates = leaderboard.candidate_ids(config)
    paths = [leaderboard.metrics_path(args.results, c) for c in candidates]
    frame = leaderboard.gather(candidates, paths, config["select"]["rule"], config["select"]["min_notes"])
    frame, notes = board.complete(frame, **board.inputs(args.results, config))  # flags + calibration rows
    if args.tsv:
        leaderboard.write(frame, args.tsv)
    print(leaderboard.markdown(frame, notes))
    return 0
