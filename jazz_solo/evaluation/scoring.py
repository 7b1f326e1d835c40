"""Scoring samples against real music: per-sample metrics, summaries, reference, metrics.json.

Who is lead and who is conditioning in a MIDI file (:func:`roles`): a file with tracks named
"solo"/"comping" (what the generator writes) uses them; any other file is split at
``split_pitch`` like the training data (notes <= split_pitch are the conditioning).

The reference (:func:`build_reference`) is the real lead hand over the real conditioning of
the target artist's pieces (which ones, and the warning when they are too few for a spread:
:mod:`jazz_solo.evaluation.calibration`), each capped like the generated samples (the first
``generate.max_seconds`` seconds from time 0). Whole capped pieces, not 8-s windows, because a
sample is a whole capped piece and several metrics (pitch range, repetition, silence) depend on
the length measured.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from . import metrics
from ..artifacts import atomic_write_text
from ..config import PROJECT_ROOT, config_hash
from ..data.midi_io import MidiError, load_notes, load_tracks, split_roles
from ..data.tokens import Note

log = logging.getLogger(__name__)

LEAD_TRACK = "solo"
COND_TRACK = "comping"
METRICS = tuple(metrics.NOTE_METRICS)
# realism_distance divides by the reference spread, floored so that a metric on which the real
# pieces happen to agree closely cannot dominate the mean: max(std, 5 % of |mean|, 0.01).
REL_FLOOR = 0.05
ABS_FLOOR = 0.01


# --- reading samples ----------------------------------------------------------------------


def roles(path: str | Path, split_pitch: int) -> tuple[list[Note], list[Note]]:
    """(conditioning, lead) of a MIDI file: by track name ("comping"/"solo") or split at pitch.

    A generated file whose solo is empty reads back without a "solo" track; the "comping" name
    still marks it as a two-track file, so its lead is empty rather than re-split.
    """
    tracks = {name.lower(): notes for name, notes in load_tracks(path).items()}
    if not tracks:  # drum-only, meta/CC-only, zero-length notes: nothing to score, not a silent solo
        raise MidiError(f"{path}: no usable notes (no pitched note of non-zero length)")
    if LEAD_TRACK in tracks or COND_TRACK in tracks:
        return tracks.get(COND_TRACK, []), tracks.get(LEAD_TRACK, [])
    notes = sorted((n for ns in tracks.values() for n in ns), key=lambda n: (n.start, n.pitch))
    return split_roles(notes, split_pitch)


def cap(notes: Iterable[Note], max_seconds: float | None, clip: bool = True) -> list[Note]:
    """Notes with onset before ``max_seconds`` (from time 0), their ends clipped there if ``clip``."""
    if max_seconds is None:
        return list(notes)
    return [n._replace(end=min(n.end, max_seconds)) if clip else n for n in notes if n.start < max_seconds]


def score(
    lead: Sequence[Note],
    conditioning: Sequence[Note],
    threshold_ms: float,
    grammar_errors: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One flat row: every metric, note counts, and grammar errors when they apply."""
    row: dict[str, Any] = metrics.sample_metrics(lead, conditioning, threshold_ms)
    row["lead_notes"] = len(lead)
    row["cond_notes"] = len(conditioning)
    if grammar_errors is not None:
        row["grammar_errors"] = metrics.grammar_error_total(dict(grammar_errors))
        row["grammar_error_kinds"] = dict(grammar_errors)
    return row


# --- aggregation --------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Averages over the scored rows (rows with an ``error`` are left out).

    Keys: ``num_samples``, ``avg_lead_notes``, ``avg_<metric>`` for every metric (the earlier
    tool's ``avg_dead_air_ratio``, ``avg_repetition_4gram``, ``avg_note_density`` among them) and
    ``avg_grammar_errors`` (None where not applicable, e.g. MIDI made elsewhere).
    """
    ok = [r for r in rows if "error" not in r]
    out: dict[str, Any] = {"num_samples": len(ok), "num_failed": len(rows) - len(ok)}
    out["avg_lead_notes"] = _mean([r["lead_notes"] for r in ok])
    for name in METRICS:
        out[f"avg_{name}"] = _mean([r[name] for r in ok])
    grammar = [r["grammar_errors"] for r in ok if r.get("grammar_errors") is not None]
    out["avg_grammar_errors"] = _mean(grammar) if grammar else None
    return out


def reference_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``count``, per-metric ``mean`` and ``std`` (sample std, ddof 1; 0 for a single piece)."""
    ok = [r for r in rows if "error" not in r]
    mean, std = {}, {}
    for name in METRICS:
        values = [float(r[name]) for r in ok]
        if not values:
            continue
        m = sum(values) / len(values)
        mean[name] = m
        std[name] = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"count": len(ok), "mean": mean, "std": std}


def realism_terms(summary: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float]:
    """Per metric ``|generated mean - reference mean| / max(reference std, floor)``.

    floor = max(REL_FLOOR * |reference mean|, ABS_FLOOR). Metrics missing on either side are
    left out.
    """
    terms = {}
    for name in METRICS:
        gen = summary.get(f"avg_{name}")
        ref = reference.get("mean", {}).get(name)
        if gen is None or ref is None:
            continue
        spread = max(float(reference["std"].get(name, 0.0)), REL_FLOOR * abs(ref), ABS_FLOOR)
        terms[name] = abs(gen - ref) / spread
    return terms


def realism_distance(summary: Mapping[str, Any], reference: Mapping[str, Any]) -> float | None:
    """Mean of :func:`realism_terms` over the metrics: 0 = indistinguishable on average from the
    reference; random MIDI scores high. None without a reference or samples."""
    terms = realism_terms(summary, reference)
    return sum(terms.values()) / len(terms) if terms else None


# --- provenance ---------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance(settings_hash: str) -> dict[str, Any]:
    """Package version, git commit (None outside a checkout), dirty flag, config hash."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "package": "jazz-solo",
        "version": __version__,
        "git_commit": commit or None,
        "git_dirty": bool(status) if status is not None else None,
        "config_hash": settings_hash,
        "python": platform.python_version(),
    }


# --- reference ----------------------------------------------------------------------------


def target_test_pieces(pieces_tsv: str | Path) -> list[tuple[str, str]]:
    """(piece_id, path) of the target's test pieces, sorted by piece_id."""
    import pandas as pd

    table = pd.read_csv(pieces_tsv, sep="\t", dtype=str)
    missing = {"piece_id", "path", "source", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"{pieces_tsv}: missing column(s) {', '.join(sorted(missing))}")
    rows = table[(table["source"] == "target") & (table["split"] == "test")].sort_values("piece_id")
    return list(zip(rows["piece_id"], rows["path"]))


def build_reference(
    pieces: Sequence[tuple[str, str | Path]],
    split_pitch: int,
    max_seconds: float | None,
    threshold_ms: float,
) -> dict[str, Any]:
    """Metrics of the real lead over the real conditioning of each piece, capped, plus mean/std."""
    rows = []
    for piece_id, path in pieces:
        try:
            cond, lead = split_roles(load_notes(path), split_pitch)
            # as the generator does: the conditioning keeps its ringing ends, the solo stops at the cap
            cond, lead = cap(cond, max_seconds, clip=False), cap(lead, max_seconds)
        except MidiError as exc:
            log.warning("reference: skipping %s", exc)
            rows.append({"piece_id": piece_id, "error": str(exc)})
            continue
        rows.append({"piece_id": piece_id, **score(lead, cond, threshold_ms)})
    stats = reference_stats(rows)
    log.info("reference: %d pieces scored, %d skipped", stats["count"], len(rows) - stats["count"])
    return {
        "split_pitch": split_pitch,
        "max_seconds": max_seconds,
        "dead_air_threshold_ms": threshold_ms,
        **stats,
        "files": rows,
    }


def load_reference(path: str | Path) -> dict[str, Any]:
    """A reference.json (or a metrics.json's ``reference``), checked for mean/std."""
    path = Path(path)
    try:
        ref = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (JSON) file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read reference ({str(exc).splitlines()[0]})") from None
    ref = ref.get("reference", ref) if isinstance(ref, dict) else ref
    if not isinstance(ref, dict) or not isinstance(ref.get("mean"), dict) or not isinstance(ref.get("std"), dict):
        raise ValueError(f"{path}: not a reference (needs 'mean' and 'std' per metric)")
    for block in ("mean", "std"):  # strings or NaN here would crash or poison realism_distance
        for name, value in ref[block].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{path}: reference {block}.{name} must be a finite number, got {value!r}")
    count = ref.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ValueError(f"{path}: reference count must be a whole number >= 0, got {count!r}")
    return ref


# --- whole evaluations --------------------------------------------------------------------


def _result(
    params: Mapping[str, Any],
    rows: list[dict[str, Any]],
    reference: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    prov: Mapping[str, Any],
    problems: list[str],
) -> dict[str, Any]:
    summary = summarize(rows)
    ref_block = None
    distance = None
    terms: dict[str, float] = {}
    if reference is not None:
        ref_block = {k: reference.get(k) for k in ("count", "mean", "std", "split_pitch", "max_seconds")}
        if not reference.get("count"):
            problems.append("reference has no scored pieces")
        elif summary["num_samples"]:
            terms = realism_terms(summary, reference)
            distance = realism_distance(summary, reference)
    if not rows:
        problems.insert(0, "no samples")
    elif not summary["num_samples"]:
        problems.insert(0, "no readable samples")
    return {
        "params": dict(params),
        "status": "ok" if not problems else "failed: " + "; ".join(problems),
        "summary": summary,
        "realism_distance": distance,
        "realism_terms": terms,
        "reference": ref_block,
        "settings": dict(settings),
        "files": rows,
        "provenance": dict(prov),
    }


def evaluate_samples(
    samples_jsonl: str | Path,
    samples_dir: str | Path,
    reference: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    split_pitch: int,
    threshold_ms: float,
    prov: Mapping[str, Any],
) -> dict[str, Any]:
    """metrics.json content for one generated candidate (samples.jsonl + its MIDI files).

    Each line's two-track ``midi`` is read from ``samples_dir`` (by file name, so the record's
    path may be relative to anything); its grammar errors come from the record (the raw tokens).
    An unreadable sample is listed with its error and makes the status ``failed: ...``.
    """
    samples_jsonl, samples_dir = Path(samples_jsonl), Path(samples_dir)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for lineno, line in enumerate(samples_jsonl.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            midi = samples_dir / Path(rec["midi"]).name
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{samples_jsonl}:{lineno}: bad sample record ({exc})") from None
        row: dict[str, Any] = {k: rec.get(k) for k in ("piece_id", "sample", "seed")}
        row["midi"] = str(midi)
        try:
            cond, lead = roles(midi, split_pitch)
        except MidiError as exc:
            row["error"] = str(exc)
            problems.append(str(exc))
        else:
            row.update(score(lead, cond, threshold_ms, rec.get("grammar_errors")))
        rows.append(row)
    settings = {"dead_air_threshold_ms": threshold_ms, "split_pitch": split_pitch}
    return _result(params, rows, reference, settings, prov, problems[:1])


def midi_files(directory: str | Path) -> list[Path]:
    """MIDI files under ``directory`` (recursive, sorted); ``X.solo.mid`` is skipped when ``X.mid``
    exists (the generator writes both; the two-track one has the conditioning)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: not a folder")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
    names = {str(p) for p in files}
    return [p for p in files if not (p.name.endswith(".solo.mid") and str(p)[: -len(".solo.mid")] + ".mid" in names)]


def score_folder(
    directory: str | Path, split_pitch: int, threshold_ms: float, max_seconds: float | None = None
) -> list[dict[str, Any]]:
    """One row per MIDI file of a folder (unreadable files get an ``error`` instead of metrics)."""
    rows = []
    for path in midi_files(directory):
        row: dict[str, Any] = {"file": str(path.relative_to(directory))}
        try:
            cond, lead = roles(path, split_pitch)
        except MidiError as exc:
            log.warning("skipping %s", exc)
            row["error"] = str(exc)
        else:
            lead, cond = cap(lead, max_seconds), cap(cond, max_seconds)
            if lead or cond:
                row.update(score(lead, cond, threshold_ms))
            else:
                row["error"] = f"{path}: no notes in the first {max_seconds} s"
        rows.append(row)
    return rows


def evaluate_folder(
    directory: str | Path,
    reference: Mapping[str, Any] | None,
    split_pitch: int,
    threshold_ms: float,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """metrics.json content for a folder of MIDI made anywhere (grammar errors: not applicable).

    Unreadable files are listed with their error and skipped; the status stays ok while at
    least one file was scored.
    """
    rows = score_folder(directory, split_pitch, threshold_ms, max_seconds)
    settings = {"dead_air_threshold_ms": threshold_ms, "split_pitch": split_pitch, "max_seconds": max_seconds}
    params = {"folder": str(directory)}
    return _result(params, rows, reference, settings, provenance(config_hash(settings)), [])


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (sorted keys inside metric maps are kept as computed)."""
    # atomic (temp + rename): a killed job never leaves a truncated metrics.json behind
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
