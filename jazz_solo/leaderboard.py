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

from . import select, sweep

log = logging.getLogger(__name__)

# Summary keys that measure the machine, not the music: kept out so that the same config gives
# the same leaderboard bytes on every run.
VOLATILE = ("wall", "per_s", "elapsed", "time_to")
FLOAT_FORMAT = "%.6g"


def candidate_ids(config: Mapping[str, Any]) -> list[str]:
    """Every generation candidate of the config, as the gen path fragment (the candidate id)."""
    return [sweep.instance("gen", combo) for combo in sweep.combinations(config, "gen")]


def metrics_path(results: str | Path, candidate: str) -> Path:
    return Path(results) / "gen" / candidate / "metrics.json"


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
    """Wildcard values of a candidate id (``split_pitch~60/lora_r~8/...``), as written in the path."""
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
    rows = [select.summary_row(cid, m) for cid, m in metrics.items()]
    ranked = select.rank(rows, rule, min_notes)
    for row in ranked:
        row.update(params_of(row["candidate"]))
        row.pop("error", None)  # already in `excluded`
    key_metrics = [
        select.REALISM, select.FIT_GAIN, select.DEAD_AIR, select.REPETITION,
        select.DENSITY, select.LEAD_NOTES, select.GRAMMAR,
    ]
    fixed = ["rank", "candidate", "status", "excluded", *(p.name for p in sweep.PARAMS), *key_metrics]
    others = sorted({k for r in ranked for k in r} - set(fixed))
    others = [k for k in others if not any(v in k for v in VOLATILE)]
    frame = pd.DataFrame(ranked).reindex(columns=fixed + others)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


def write(frame: pd.DataFrame, tsv: str | Path, md: str | Path | None = None) -> None:
    """TSV (machine-readable, fixed float format) and Markdown (for people and the report)."""
    Path(tsv).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(tsv, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep="")
    if md is not None:
        Path(md).write_text(markdown(frame))


def markdown(frame: pd.DataFrame) -> str:
    """The leaderboard for people: rank, the parameters that vary, status and the ranking metrics
    (the full candidate ids and every metric are in the TSV)."""
    params = [p.name for p in sweep.PARAMS if p.name in frame and frame[p.name].nunique(dropna=False) > 1]
    key = [select.REALISM, select.FIT_GAIN, select.DEAD_AIR, select.REPETITION, select.DENSITY, select.LEAD_NOTES]
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
        if m is None or m.get("status", select.OK) != select.OK:
            log.warning("candidate %s failed: %s", cid, "no metrics.json" if m is None else m.get("error", m.get("status")))
    return build(metrics, rule, min_notes)


def read(tsv: str | Path) -> pd.DataFrame:
    """A leaderboard written by :func:`write` (parameter columns kept as their path text)."""
    tsv = Path(tsv)
    if not tsv.is_file():
        raise FileNotFoundError(f"{tsv}: no leaderboard (run the leaderboard rule first)")
    dtypes = {p.name: str for p in sweep.PARAMS} | {"candidate": str, "status": str, "excluded": str}
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
    frame = read(tsv)
    winners = frame[frame["rank"] == 1]
    if winners.empty:
        reasons = "; ".join(f"{r.candidate}: {r.excluded}" for r in frame.itertuples()) or "no candidates"
        raise ValueError(f"{tsv}: no candidate qualifies under select.rule={rule} ({reasons})")
    row = winners.iloc[0]
    param_names = {p.name for p in sweep.PARAMS}
    metric_cols = [c for c in frame.columns if c not in param_names | {"rank", "candidate", "status", "excluded"}]
    return {
        "candidate": row["candidate"],
        "params": params_of(row["candidate"]),
        "rule": rule,
        "min_notes": min_notes,
        "rank": 1,
        "n_candidates": int(len(frame)),
        "n_eligible": int(frame["rank"].notna().sum()),
        "metrics": {c: _clean(row[c]) for c in metric_cols if _clean(row[c]) is not None},
    }


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
