"""The style reference and the calibration rows that give ``realism_distance`` a scale
(docs/architecture.md#calibration).

Reference (rule ``reference``): the real lead over the real conditioning of the target artist's
pieces, each cut like the samples (the first ``generate.max_seconds``). By default every target
piece that is not a test piece (train + val): enough pieces for a spread, and the test pieces stay
out so that the "real held-out" row below is measured honestly. Training pieces in the reference
could reward a model that replays them; the copy check (:mod:`jazz_solo.evaluation.copycheck`) guards that.
``evaluate.reference: [paths]`` names other real recordings of the artist instead (e.g. live ones).
Fewer than ``evaluate.min_reference_pieces`` pieces: built anyway, with a ``warning`` that the
spread is noise (a std over 2-3 pieces can be near 0 or huge), shown in the leaderboard.

Calibration rows (rule ``calibration``), scored on the same metrics against the same reference:

- ``real_held_out``: the real right hand of the target's test pieces (held out from training);
- ``real_same_comping``: the real right hand over exactly the comping the candidates play over (the
  first ``generate.num_pieces`` test pieces): how closely a solo follows the chords depends on the
  piece (on the dev data the real harmonic-fit gain spreads 0.04-0.12 between pieces of one artist),
  so a candidate's harmonic_fit_gain is compared with this row's, like with like;
- ``corpus_artists``: real right hands of the corpus artists' test pieces (at most
  ``evaluate.calibration_pieces``, evenly spaced by piece id): jazz, but not this artist;
- ``random_notes``: random pitches/onsets/durations, as many notes as the real right hand has,
  over the comping the candidates play over (the first ``generate.num_pieces`` test pieces);
- ``base_only`` (a separate generate + evaluate job, see rules/calibration.smk): the base
  model without adapter over that comping.

A candidate should sit between ``real_held_out`` (the goal) and ``random_notes``; below
``base_only`` if the adapter helps, towards ``real_held_out`` past ``corpus_artists`` if it plays
like this artist rather than like jazz in general.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import copycheck, scoring
from ..data.ingest import expand_entry
from ..data.midi_io import MidiError, load_notes, split_roles
from ..data.tokens import Note
from ..data.windows import excerpt

log = logging.getLogger(__name__)

ROWS = {
    "real_held_out": "real right hand of the target's test pieces (held out from training)",
    "real_same_comping": "real right hand over the same comping as the candidates",
    "corpus_artists": "real right hands of the corpus artists' test pieces",
    "random_notes": "random notes over the same comping as the candidates",
    "base_only": "the base model without adapter over the same comping",
}
RANDOM_PITCH_MAX = 108
RANDOM_DURATION_S = (0.05, 1.0)


def _table(pieces_tsv: str | Path):
    import pandas as pd

    table = pd.read_csv(pieces_tsv, sep="\t", dtype=str)
    missing = {"piece_id", "path", "source", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"{pieces_tsv}: missing column(s) {', '.join(sorted(missing))}")
    return table


def pieces_where(pieces_tsv: str | Path, source: str, splits: Sequence[str]) -> list[tuple[str, str]]:
    """(piece_id, path) of the pieces of ``source`` in ``splits``, sorted by piece_id."""
    table = _table(pieces_tsv)
    rows = table[(table["source"] == source) & table["split"].isin(list(splits))].sort_values("piece_id")
    return list(zip(rows["piece_id"], rows["path"]))


def reference_pieces(pieces_tsv: str | Path, paths: Sequence[str] | None) -> list[tuple[str, str]]:
    """The reference's pieces: every file under ``paths`` (config ``evaluate.reference``) when set,
    else the target's train and val pieces (all its pieces when it has nothing but test pieces)."""
    if not paths:
        return pieces_where(pieces_tsv, "target", ("train", "val")) or pieces_where(pieces_tsv, "target", ("test",))
    found: dict[str, str] = {}
    for entry in paths:
        for path, key, _ in expand_entry(entry, "evaluate.reference"):  # ValueError: one line naming the key
            found.setdefault(key, path)
    return sorted(found.items())


def evenly(items: Sequence[Any], n: int) -> list[Any]:
    """At most ``n`` items, evenly spaced over the sequence (deterministic)."""
    if len(items) <= n:
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def real_parts(
    path: str | Path, split_pitch: int, max_seconds: float | None, start: float = 0.0
) -> tuple[list[Note], list[Note]]:
    """(conditioning, lead) of a real piece from ``start``: :func:`cut_parts` of its notes."""
    return cut_parts(load_notes(path), split_pitch, max_seconds, start)


def cut_parts(
    notes: Sequence[Note], split_pitch: int, max_seconds: float | None, start: float = 0.0
) -> tuple[list[Note], list[Note]]:
    """(conditioning, lead) of a piece's notes from ``start`` (an excerpt moved to 0, see
    ``windows.excerpt``), cut as scoring.build_reference cuts the reference."""
    if start:
        length = max_seconds if max_seconds is not None else max((n.end for n in notes), default=0.0)
        notes = excerpt(notes, start, length)
    cond, lead = split_roles(notes, split_pitch)
    return scoring.cap(cond, max_seconds, clip=False), scoring.cap(lead, max_seconds)


def reference_warning(count: int, min_pieces: int) -> str | None:
    """The plain warning of a reference with too few pieces for a spread, else None."""
    if count >= min_pieces:
        return None
    return (f"reference has {count} piece(s) (< evaluate.min_reference_pieces {min_pieces}): its spread is noise, "
            "so realism_distance only orders candidates; add pieces or name a folder in evaluate.reference")


def random_lead(cond: Sequence[Note], n_notes: int, seconds: float, split_pitch: int, rng: random.Random) -> list[Note]:
    """``n_notes`` notes with uniform random onsets in [0, seconds), durations and lead pitches."""
    lo = min(split_pitch + 1, RANDOM_PITCH_MAX)
    notes = []
    for _ in range(n_notes):
        start = rng.uniform(0.0, seconds)
        end = min(start + rng.uniform(*RANDOM_DURATION_S), seconds)
        notes.append(Note(start, max(end, start + 0.01), rng.randint(lo, RANDOM_PITCH_MAX), 80))
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def _scored(piece_id: str, lead: Sequence[Note], cond: Sequence[Note], threshold_ms: float,
            index: copycheck.PhraseIndex) -> dict[str, Any]:
    return {"piece_id": piece_id, **scoring.score(lead, cond, threshold_ms), "copy_run": index.longest_run(lead)}


def row_result(name: str, rows: list[dict[str, Any]], reference: Mapping[str, Any]) -> dict[str, Any]:
    """A metrics.json-like record of one calibration row (status, summary, realism_distance)."""
    summary = scoring.summarize(rows)
    summary.update(copycheck.summary([r["copy_run"] for r in rows if "error" not in r]))
    ok = summary["num_samples"] > 0 and reference.get("count")
    return {
        "row": name,
        "description": ROWS[name],
        "status": "ok" if ok else "failed: no scored pieces" if not summary["num_samples"] else "failed: empty reference",
        "summary": summary,
        "realism_distance": scoring.realism_distance(summary, reference) if ok else None,
        "realism_terms": scoring.realism_terms(summary, reference) if ok else {},
        "files": rows,
    }


def build_calibration(
    pieces_tsv: str | Path,
    reference: Mapping[str, Any],
    index: copycheck.PhraseIndex,
    split_pitch: int,
    max_seconds: float | None,
    threshold_ms: float,
    num_pieces: int,
    num_samples: int,
    corpus_pieces: int,
    seed: int,
) -> dict[str, Any]:
    """The three real/random calibration rows (``base_only`` comes from its own generate job)."""
    def real_rows(pieces: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        rows = []
        for piece_id, path in pieces:
            try:
                cond, lead = real_parts(path, split_pitch, max_seconds)
            except MidiError as exc:
                log.warning("calibration: skipping %s", exc)
                rows.append({"piece_id": piece_id, "error": str(exc)})
                continue
            rows.append(_scored(piece_id, lead, cond, threshold_ms, index))
        return rows

    held_out = pieces_where(pieces_tsv, "target", ("test",))
    held_rows = real_rows(held_out)
    corpus = evenly(pieces_where(pieces_tsv, "corpus", ("test",)), corpus_pieces)
    rng = random.Random(seed)
    random_rows = []
    for piece_id, path in held_out[:num_pieces]:  # the comping generation uses (first test pieces by id)
        try:
            cond, lead = real_parts(path, split_pitch, max_seconds)
        except MidiError as exc:
            random_rows.append({"piece_id": piece_id, "error": str(exc)})
            continue
        seconds = max_seconds if max_seconds is not None else max((n.end for n in cond), default=0.0)
        for k in range(num_samples):
            notes = random_lead(cond, max(len(lead), 1), seconds, split_pitch, rng)
            random_rows.append({**_scored(piece_id, notes, cond, threshold_ms, index), "sample": k})
    rows = {
        "real_held_out": row_result("real_held_out", held_rows, reference),
        "real_same_comping": row_result("real_same_comping", held_rows[:num_pieces], reference),  # one row per piece
        "corpus_artists": row_result("corpus_artists", real_rows(corpus), reference),
        "random_notes": row_result("random_notes", random_rows, reference),
    }
    for name, row in rows.items():
        log.info("calibration %s: %s pieces/samples, realism_distance %s", name, row["summary"]["num_samples"],
                 row["realism_distance"])
    ref = {k: reference.get(k) for k in ("count", "pieces_from", "warning")}
    return {"split_pitch": split_pitch, "max_seconds": max_seconds, "reference": ref, "rows": rows}


def add_copy_check(result: dict[str, Any], index: copycheck.PhraseIndex, split_pitch: int) -> dict[str, Any]:
    """Per-sample ``copy_run`` (longest run shared with the training pieces) and its summary,
    added to a metrics.json record of :func:`scoring.evaluate_samples`."""
    runs = []
    for row in result.get("files", []):
        if "error" in row or not row.get("midi"):
            continue
        _, lead = scoring.roles(row["midi"], split_pitch)
        row["copy_run"] = index.longest_run(lead)
        runs.append(row["copy_run"])
    result.setdefault("summary", {}).update(copycheck.summary(runs))
    result["copy_check"] = {"against": f"{index.pieces} target training pieces", "ioi_grid_s": copycheck.IOI_GRID_S}
    return result


def leaderboard_rows(
    calibration_jsons: Sequence[str | Path], base_metrics: Sequence[str | Path], split_pitches: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """Leaderboard rows of the calibration (one set per split_pitch), the reference warnings, and
    the real held-out pieces' max_copy_run per split_pitch (the copy flag's limit)."""
    from ..selection import ranking
    from ..selection.leaderboard import read_metrics

    rows, notes, held_out_copy = [], [], {}
    for sp, cal_path, base_path in zip(split_pitches, calibration_jsons, base_metrics):
        cal = read_metrics(cal_path) or {"rows": {}}
        records = {**cal.get("rows", {}), "base_only": read_metrics(base_path)}
        for name in ROWS:
            if records.get(name) is None:  # not built (the CLI on a partial results folder)
                continue
            row = ranking.summary_row(f"calibration:{name}", records[name])
            rows.append({**row, "split_pitch": sp, "description": ROWS[name], "excluded": ""})
        held_out_copy[sp] = (records.get("real_held_out") or {}).get("summary", {}).get("max_copy_run")
        ref = cal.get("reference") or {}
        if ref.get("warning"):
            notes.append(f"split_pitch {sp}: {ref['warning']}")
    return rows, notes, held_out_copy
