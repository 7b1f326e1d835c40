"""The full leaderboard: ranked candidates with their honesty flags (:mod:`jazz_solo.selection.honesty`) and
the calibration rows (:mod:`jazz_solo.evaluation.calibration`) below them. Used by the leaderboard rule (with
its declared inputs) and by ``python -m jazz_solo leaderboard`` (with what is on disk)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import paths, sweep
from ..evaluation import calibration
from . import honesty, leaderboard


def complete(
    frame: pd.DataFrame,
    train_ids: Sequence[str],
    evals: Sequence[str | Path],
    adapters: Sequence[str | Path],
    calibration_jsons: Sequence[str | Path],
    base_metrics: Sequence[str | Path],
    split_pitches: Sequence[str],
) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` (from :func:`leaderboard.gather`) with flags, adapter gain and calibration rows,
    and the warnings the Markdown shows above the calibration table."""
    facts = {t: honesty.adapter_facts(e, a) for t, e, a in zip(train_ids, evals, adapters)}
    train_of = {c: sweep.instance("train", leaderboard.params_of(c)) for c in frame["candidate"]}
    calib_rows, notes, held_out_copy = calibration.leaderboard_rows(calibration_jsons, base_metrics, split_pitches)
    rows = honesty.annotate(frame.to_dict("records"), train_of, facts, held_out_copy)
    return leaderboard.with_calibration(frame, rows, calib_rows), notes


def inputs(results: str | Path, config: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The paths :func:`complete` reads, for a config and a results folder (as the rule declares them)."""
    train = [sweep.instance("train", c) for c in sweep.combinations(config, "train")]
    data = sweep.combinations(config, "data")
    return {
        "train_ids": train,
        "evals": [Path(paths.file("eval", t, results)) for t in train],
        "adapters": [Path(paths.file("adapter", t, results)) for t in train],
        "calibration_jsons": [Path(paths.file("calibration", d, results)) for d in data],
        "base_metrics": [Path(paths.file("base_only_metrics", d, results)) for d in data],
        "split_pitches": [d["split_pitch"] for d in data],
    }
