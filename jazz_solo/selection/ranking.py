"""Best-candidate selection: which sweep candidates are eligible and how they are ordered.

Two rules (``select.rule``):

- ``realism`` (docs/architecture.md#selection, default): drop candidates whose status is not ok, that produced grammar
  errors, or that average fewer than ``select.min_notes`` lead notes per sample; rank by
  ``realism_distance`` (lower), then ``harmonic_fit_gain`` (higher), then ``avg_dead_air_ratio``
  (lower), then the candidate id.
- ``legacy`` (the original rule, kept for comparability; docs/architecture.md#selection): rank by ``avg_dead_air_ratio``,
  then ``avg_repetition_4gram``, then ``|avg_note_density - 1|`` (all lower), then the candidate id;
  only failed candidates are dropped, because that rule never looked at anything else.

A row is a flat mapping with ``candidate``, ``status`` and summary metrics (see
:func:`summary_row`). The candidate id is always the last key, so ties are broken the same way
on every machine; a missing or NaN metric sorts after every real value.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RULES = ("realism", "legacy")
OK = "ok"

# Metrics the rules read, under the names used in leaderboard rows.
REALISM = "realism_distance"
FIT_GAIN = "avg_harmonic_fit_gain"
DEAD_AIR = "avg_dead_air_ratio"
REPETITION = "avg_repetition_4gram"
DENSITY = "avg_note_density"
LEAD_NOTES = "avg_lead_notes"
GRAMMAR = "avg_grammar_errors"


def _number(value: Any) -> float:
    """A float, NaN for anything missing or non-numeric (NaN sorts last, see :func:`_asc`)."""
    if isinstance(value, Mapping):  # grammar errors as {kind: count}
        return float(sum(_number(v) for v in value.values()))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _lookup(metrics: Mapping[str, Any], name: str) -> Any:
    """``name`` from a metrics.json: in ``summary`` (with or without the ``avg_`` prefix) or top level."""
    summary = metrics.get("summary") or {}
    bare = name.removeprefix("avg_")
    for where, key in ((summary, name), (summary, f"avg_{bare}"), (summary, bare), (metrics, name), (metrics, bare)):
        if key in where:
            return where[key]
    return None


def summary_row(candidate: str, metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flat row of one candidate: id, status, the summary metrics and those the rules need.

    ``metrics`` is the parsed metrics.json, or None when the file is missing (listed as failed:
    with ``--keep-going`` a candidate whose generation failed has no metrics at all).
    """
    if metrics is None:
        return {"candidate": candidate, "status": "failed", "error": "no metrics.json"}
    # evaluate writes "failed: <reason>"; the leaderboard keeps the word and the reason apart
    status, _, reason = str(metrics.get("status", OK)).partition(":")
    row: dict[str, Any] = {"candidate": candidate, "status": status.strip()}
    if metrics.get("error") or reason.strip():
        row["error"] = str(metrics.get("error") or reason.strip()).splitlines()[0]
    for key, value in (metrics.get("summary") or {}).items():
        if isinstance(value, (int, float, Mapping)) and not isinstance(value, bool):
            row[key] = _number(value)
    for name in (REALISM, FIT_GAIN, DEAD_AIR, REPETITION, DENSITY, LEAD_NOTES, GRAMMAR):
        value = _lookup(metrics, name)
        if value is not None:
            row[name] = _number(value)
    return row


def _asc(value: Any) -> float:
    v = _number(value)
    return math.inf if math.isnan(v) else v


def _desc(value: Any) -> float:
    v = _number(value)
    return math.inf if math.isnan(v) else -v


def exclusion(row: Mapping[str, Any], rule: str = "realism", min_notes: float = 0) -> str | None:
    """Why ``row`` cannot be selected under ``rule``, or None when it is eligible."""
    if row.get("status") != OK:
        return str(row.get("error") or f"status {row.get('status')}")
    if rule == "legacy":
        return None
    grammar = _number(row.get(GRAMMAR, 0))
    if math.isnan(grammar) or grammar > 0:
        return "grammar errors"
    notes = _number(row.get(LEAD_NOTES))
    if math.isnan(notes) or notes < min_notes:
        return f"avg lead notes < {min_notes:g}"
    return None


SORT_KEYS: dict[str, Callable[[Mapping[str, Any]], tuple]] = {
    "realism": lambda r: (_asc(r.get(REALISM)), _desc(r.get(FIT_GAIN)), _asc(r.get(DEAD_AIR)), str(r["candidate"])),
    "legacy": lambda r: (
        _asc(r.get(DEAD_AIR)),
        _asc(r.get(REPETITION)),
        _asc(abs(_number(r.get(DENSITY)) - 1.0)),
        str(r["candidate"]),
    ),
}


def rank(rows: Sequence[Mapping[str, Any]], rule: str = "realism", min_notes: float = 0) -> list[dict[str, Any]]:
    """Rows with ``rank`` (1 = best, None when excluded) and ``excluded`` (the reason, or ""),
    eligible rows first in rank order, then the excluded ones by candidate id."""
    if rule not in SORT_KEYS:
        raise ValueError(f"config key 'select.rule': unknown rule {rule!r} (choose from {', '.join(RULES)})")
    ids = [r["candidate"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate candidate ids in the leaderboard")
    marked = [{**r, "excluded": exclusion(r, rule, min_notes) or ""} for r in rows]
    eligible = sorted((r for r in marked if not r["excluded"]), key=SORT_KEYS[rule])
    excluded = sorted((r for r in marked if r["excluded"]), key=lambda r: str(r["candidate"]))
    for i, r in enumerate(eligible, start=1):
        r["rank"] = i
    for r in excluded:
        r["rank"] = None
    return eligible + excluded

