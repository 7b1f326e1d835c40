"""The sweep leaderboard: one row per candidate named by the config, ranked by the selection rule.

Candidates come from the config (``sweep.combinations``), never from a glob of what is on disk,
so a candidate whose metrics are missing or failed shows up as failed instead of vanishing, and
stale results of candidates removed from the config never sneak in.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import sweep
from . import ranking

log = logging.getLogger(__name__)

# Summary keys that measure the machine, not the music: kept out so that the same config gives
# the same leaderboard bytes on every run.
VOLATILE = ("wall", "per_s", "elapsed", "time_to")
FLOAT_FORMAT = "%.6g"


def candidate_ids(config: Mapping[str, Any]) -> list[str]:
    """Every generation candidate of the config, as the gen path fragment (the candidate id)."""
    return [sweep.instance("gen", combo) for combo in sweep.combinations(config, "gen")]


def read_metrics(path: str | Path) -> dict[str, Any] | None:
    """A candidate's metrics.json; None when absent, a failed record when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return {"status": "failed", "error": f"{path}: unreadable ({str(exc).splitlines()[0]})"}
    if not isinstance(data, dict):
        return {"status": "failed", "error": f"{path}: not a JSON object"}
    return data


def params_of(candidate: str) -> dict[str, str]:
    """Wildcard values of a candidate id (``vocabulary~duration/sequence~windowed/split_pitch~60/...``), as written in the path."""
    out = {}
    for part in candidate.split("/"):
        name, sep, value = part.partition("~")
        if not sep or name not in sweep.BY_NAME:
            raise ValueError(f"candidate id {candidate!r}: {part!r} is not name~value of a sweep parameter")
        out[name] = value
    return out


def build(
    metrics: Mapping[str, Mapping[str, Any] | None], rule: str = "realism", min_notes: float = 0
) -> pd.DataFrame:
    """The ranked leaderboard of ``{candidate id: parsed metrics.json or None}``.

    Columns: rank, candidate, status, excluded, every sweep parameter, the metrics the rules
    use, then the remaining summary metrics in name order.
    """
    rows = [ranking.summary_row(cid, m) for cid, m in metrics.items()]
    ranked = ranking.rank(rows, rule, min_notes)
    for row in ranked:
        row.update(params_of(row["candidate"]))
        row.pop("error", None)  # already in `excluded`
    key_metrics = [
        ranking.REALISM, ranking.FIT_GAIN, ranking.DEAD_AIR, ranking.REPETITION,
        ranking.DENSITY, ranking.LEAD_NOTES, ranking.GRAMMAR,
    ]
    fixed = ["rank", "candidate", "status", "excluded", *(p.name for p in sweep.PARAMS), *key_metrics]
    others = sorted({k for r in ranked for k in r} - set(fixed))
    others = [k for k in others if not any(v in k for v in VOLATILE)]
    frame = pd.DataFrame(ranked).reindex(columns=fixed + others)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


# Calibration rows (jazz_solo.evaluation.calibration) sit below the candidates, told apart by ``kind``; they
# have no rank and are never selected. Honesty columns: jazz_solo.selection.honesty.
CANDIDATE, CALIBRATION = "candidate", "calibration"
HONESTY_COLUMNS = ("adapter_gain", "adapter_gain_pct", "adapter_base_nll", "adapter_nll", "adapter_sha256")
TEXT_COLUMNS = ("kind", "flags", "adapter_sha256", "description")


def with_calibration(
    frame: pd.DataFrame, candidates: Sequence[Mapping[str, Any]], calibration: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """The leaderboard of :func:`build` with its rows replaced by ``candidates`` (the same rows,
    annotated with flags and adapter gain) and the ``calibration`` rows appended."""
    cols = list(frame.columns)
    at = cols.index("excluded") + 1
    cols = cols[:2] + ["kind"] + cols[2:at] + ["flags"] + cols[at:]
    rows = [{**r, "kind": CANDIDATE} for r in candidates] + [{**r, "kind": CALIBRATION} for r in calibration]
    extra = [*HONESTY_COLUMNS, "description"]
    others = sorted({k for r in rows for k in r} - set(cols) - set(extra))
    others = [k for k in others if not any(v in k for v in VOLATILE)]
    out = pd.DataFrame(rows).reindex(columns=cols + others + extra)
    out["rank"] = out["rank"].astype("Int64")
    return out


def write(frame: pd.DataFrame, tsv: str | Path, md: str | Path | None = None, notes: Sequence[str] = ()) -> None:
    """TSV (machine-readable, fixed float format) and Markdown (for people and the report)."""
    Path(tsv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(tsv, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep="")
    if md is not None:
        Path(md).write_text(markdown(frame, notes))


def _calibration_table(calib: pd.DataFrame, by_split: bool) -> list[str]:
    """The calibration rows as their own table (same metrics, same reference as the candidates)."""
    if calib.empty:
        return []
    key = [ranking.REALISM, ranking.FIT_GAIN, ranking.DEAD_AIR, ranking.DENSITY, "max_copy_run", "num_samples"]
    shown = calib[["candidate", *(["split_pitch"] if by_split else []), *(k for k in key if k in calib), "description"]]
    shown = shown.assign(candidate=shown["candidate"].str.removeprefix(f"{CALIBRATION}:")).rename(
        columns={"candidate": "calibration row", "num_samples": "pieces/samples"})
    shown = shown.astype(object).where(shown.notna(), None)
    return [
        "## Calibration: where real and random music fall on the same scale",
        "",
        "A candidate between real_held_out and corpus_artists plays like this artist; below base_only, "
        "its adapter helps. Compare a candidate's harmonic_fit_gain with real_same_comping's (the real right hand "
        "over the same comping). max_copy_run: longest run of notes shared with the target's training pieces.",
        "",
        shown.to_markdown(index=False, floatfmt=".4g", missingval=""),
        "",
    ]


def markdown(frame: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    """The leaderboard for people: rank, the parameters that vary, status and the ranking metrics
    (the full candidate ids and every metric are in the TSV), flags, then the calibration rows."""
    calib = frame[frame["kind"] == CALIBRATION] if "kind" in frame else frame.iloc[:0]
    frame = frame[frame["kind"] != CALIBRATION] if "kind" in frame else frame
    params = [p.name for p in sweep.PARAMS if p.name in frame and frame[p.name].nunique(dropna=False) > 1]
    key = [ranking.REALISM, ranking.FIT_GAIN, ranking.DEAD_AIR, ranking.REPETITION, ranking.DENSITY, ranking.LEAD_NOTES]
    key += ["adapter_gain", "max_copy_run", "flags"]
    shown = frame[["rank", *params, "status", "excluded", *(k for k in key if k in frame)]]
    shown = shown.astype(object).where(shown.notna(), None)  # blank cells, not <NA>/nan
    fixed = {p.name: frame[p.name].iloc[0] for p in sweep.PARAMS if p.name in frame and p.name not in params}
    lines = [
        "# Sweep leaderboard",
        "",
        f"{len(frame)} candidates, {int(frame['rank'].notna().sum())} eligible; rank 1 is selected.",
        "Fixed for all candidates: " + (", ".join(f"{k}={v}" for k, v in fixed.items()) or "nothing") + ".",
        "",
        shown.to_markdown(index=False, floatfmt=".4g", missingval=""),
        "",
        *(f"**Warning:** {note}" for note in notes),
        *([""] if notes else []),
        *_calibration_table(calib, "split_pitch" in params),
    ]
    return "\n".join(lines)


def gather(
    candidates: Sequence[str], paths: Sequence[str | Path], rule: str = "realism", min_notes: float = 0
) -> pd.DataFrame:
    """Read each candidate's metrics.json (missing or broken ones become failed rows) and rank."""
    if len(candidates) != len(paths):
        raise ValueError(f"{len(candidates)} candidates but {len(paths)} metrics paths")
    metrics = {cid: read_metrics(path) for cid, path in zip(candidates, paths)}
    for cid, m in metrics.items():
        if m is None or m.get("status", ranking.OK) != ranking.OK:
            log.warning("candidate %s failed: %s", cid, "no metrics.json" if m is None else m.get("error", m.get("status")))
    return build(metrics, rule, min_notes)


def read(tsv: str | Path) -> pd.DataFrame:
    """A leaderboard written by :func:`write` (parameter columns kept as their path text)."""
    tsv = Path(tsv)
    if not tsv.is_file():
        raise FileNotFoundError(f"{tsv}: no leaderboard (run the leaderboard rule first)")
    dtypes = {p.name: str for p in sweep.PARAMS} | {"candidate": str, "status": str, "excluded": str}
    dtypes |= {c: str for c in TEXT_COLUMNS}
    frame = pd.read_csv(tsv, sep="\t", dtype=dtypes, keep_default_na=False, na_values=[""])
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/NA -> None, numpy scalars -> Python."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def select_from(tsv: str | Path, rule: str, min_notes: float) -> dict[str, Any]:
    """The selection record of the rank-1 row of a leaderboard (ranked with ``rule`` by :func:`build`).

    ValueError listing every candidate's exclusion reason when no candidate qualifies.
    """
    board = read(tsv)
    frame = board[board["kind"] != CALIBRATION] if "kind" in board else board
    winners = frame[frame["rank"] == 1]
    if winners.empty:
        reasons = "; ".join(f"{r.candidate}: {r.excluded}" for r in frame.itertuples()) or "no candidates"
        raise ValueError(f"{tsv}: no candidate qualifies under select.rule={rule} ({reasons})")
    row = winners.iloc[0]
    param_names = {p.name for p in sweep.PARAMS}
    not_metrics = param_names | {"rank", "candidate", "status", "excluded", *TEXT_COLUMNS}
    metric_cols = [c for c in frame.columns if c not in not_metrics]
    return {
        "candidate": row["candidate"],
        "params": params_of(row["candidate"]),
        "rule": rule,
        "min_notes": min_notes,
        "rank": 1,
        "n_candidates": int(len(frame)),
        "n_eligible": int(frame["rank"].notna().sum()),
        "metrics": {c: _clean(row[c]) for c in metric_cols if _clean(row[c]) is not None},
        **honesty_record(row, board),
    }


def honesty_record(row: pd.Series, board: pd.DataFrame) -> dict[str, Any]:
    """What best.json says plainly about the winner: its adapter's validation gain, its flags as
    ``warnings`` (plus one when the base alone scores closer to the reference), and the
    calibration rows of its split_pitch."""
    names = {"improvement": "adapter_gain", "improvement_pct": "adapter_gain_pct", "base_nll": "adapter_base_nll",
             "adapter_nll": "adapter_nll"}  # as in the adapter's eval.json
    gain = {k: _clean(row.get(col)) for k, col in names.items()}
    warnings = [f for f in str(_clean(row.get("flags")) or "").split("; ") if f]
    calibration = {}
    if "kind" in board:
        same = board[(board["kind"] == CALIBRATION) & (board["split_pitch"] == row.get("split_pitch"))]
        calibration = {str(r["candidate"]).removeprefix(f"{CALIBRATION}:"): _clean(r[ranking.REALISM])
                       for _, r in same.iterrows()}
    base, own = calibration.get("base_only"), _clean(row.get(ranking.REALISM))
    if base is not None and own is not None and own >= base:
        warnings.append(f"the base alone is as close to the reference (realism_distance {base:.4g} vs {own:.4g})")
    return {"adapter_gain": gain, "warnings": warnings, "calibration_realism": calibration}


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
