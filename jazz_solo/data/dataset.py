"""Tokenize: pieces.tsv -> per (source, split) window sets for one ``split_pitch``.

Per piece: roles (notes <= split_pitch condition, the rest lead), time-aligned windows of W s
every H s, ``BOS cond SEP lead EOS`` examples. Windows with too few lead or conditioning notes
are skipped and counted. Train windows are stored in 12 keys (``data.transpose`` range; a shift
that pushes a pitch out of 0-127 is skipped and counted); val/test are stored untransposed.
"""
from __future__ import annotations

import bisect
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from . import causal_sequence, tokens, vocab
from .ingest import SPLITS, read_pieces, write_tsv
from .midi_io import load_notes, split_roles
from ..settings import DataSettings
from .tokens import Note
from .windows import WindowSet, build_example, notes_in_window, window_starts

log = logging.getLogger(__name__)

SOURCES = ("corpus", "target")
INDEX_COLUMNS = ("piece_id", "window_start", "transpose", "cond_tokens", "lead_tokens", "length")
SKIP_REASONS = ("few_lead_notes", "few_cond_notes", "transpose_out_of_range")
_SLACK = 0.02  # seconds: pre-selection margin around a window; notes_in_window selects exactly


@dataclass
class PieceExamples:
    """Examples of one piece (in window order, then transposition) and what was skipped.

    The sequences are packed into one flat ``tokens`` array with their ``lengths``: one array per
    piece is far cheaper to send back from a worker process than thousands of small ones.
    """

    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    lengths: list[int] = field(default_factory=list)
    sep_pos: list[int] = field(default_factory=list)
    lead_mask: np.ndarray | None = None  # causal format: per token of ``tokens``
    index: list[tuple] = field(default_factory=list)  # INDEX_COLUMNS without piece_id
    windows: int = 0
    skipped: Counter = field(default_factory=Counter)
    truncated: Counter = field(default_factory=Counter)


def shifts(data: DataSettings, split: str) -> list[int]:
    """Transpositions for a split: the configured inclusive range on train, 0 elsewhere."""
    if split != "train":
        return [0]
    lo, hi = data.transpose
    return list(range(lo, hi + 1))


def _note_count(notes: Sequence[Note], origin: float) -> int:
    """Notes as encoded: two onsets of one pitch on one tick are one note."""
    return len(tokens.quantize(notes, origin))


def _notes_near(notes: Sequence[Note], starts: Sequence[float], start: float, seconds: float) -> Sequence[Note]:
    # Bisect to a small superset so each window costs O(its notes), not O(piece).
    lo = bisect.bisect_left(starts, start - _SLACK)
    return notes[lo : bisect.bisect_left(starts, start + seconds + _SLACK)]


def piece_examples(notes: Sequence[Note], duration: float, split: str, data: DataSettings) -> PieceExamples:
    """All examples of one piece for ``data`` (vocabulary, sequence format, split_pitch, windows,
    caps, transpose)."""
    encode_lead = vocab.get(data.vocabulary).encode_lead
    causal = data.sequence == "causal"
    cond, lead = split_roles(notes, data.split_pitch)
    cond_starts = [n.start for n in cond]
    lead_starts = [n.start for n in lead]
    seconds = data.window_seconds
    out = PieceExamples()
    sequences: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for start in window_starts(duration, seconds, data.hop_seconds):
        lead_notes = notes_in_window(_notes_near(lead, lead_starts, start, seconds), start, seconds)
        if _note_count(lead_notes, start) < data.min_lead_notes:
            out.skipped["few_lead_notes"] += 1
            continue
        cond_notes = notes_in_window(_notes_near(cond, cond_starts, start, seconds), start, seconds)
        if _note_count(cond_notes, start) < data.min_cond_notes:
            out.skipped["few_cond_notes"] += 1
            continue
        out.windows += 1
        if causal:
            example, mask, n_cond, n_lead = causal_sequence.build_example(
                cond_notes, lead_notes, start, seconds, data.max_sequence)
            sep, cond_capped = 0, False
            seq_capped = n_cond + n_lead + 2 > data.max_sequence
        else:
            lead_toks = encode_lead(lead_notes, start, start + seconds)
            cond_toks = vocab.encode_conditioning(cond_notes, start, start + seconds)
            example, sep = build_example(cond_toks, lead_toks, data.max_cond_tokens, data.max_sequence)
            mask, n_cond, n_lead = None, len(cond_toks), len(lead_toks)
            cond_capped = n_cond > data.max_cond_tokens
            seq_capped = sep + n_lead + 2 > data.max_sequence
        for shift in shifts(data, split):
            # Transposing the built example equals building from transposed parts (specials do
            # not move); only pitches that made it into the example are range-checked. Each
            # token keeps its hand (the lead mask) whichever side of the split it moves to.
            seq = tokens.transpose_array(example, shift) if shift else example
            if seq is None:
                out.skipped["transpose_out_of_range"] += 1
                continue
            out.truncated["cond_capped"] += cond_capped
            out.truncated["sequence_capped"] += seq_capped
            sequences.append(seq)
            if mask is not None:
                masks.append(mask)
            out.sep_pos.append(sep)
            out.index.append((start, shift, n_cond, n_lead, len(seq)))
    out.lengths = [len(q) for q in sequences]
    if sequences:
        out.tokens = np.concatenate(sequences).astype(np.int16)
    if causal:
        out.lead_mask = np.concatenate(masks) if masks else np.zeros(0, bool)
    return out


_WORKER_DATA: DataSettings | None = None  # set once per worker process (Pool initializer)


def _init_worker(data: DataSettings) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data


def _piece_job(row: Mapping[str, Any]) -> PieceExamples:
    assert _WORKER_DATA is not None, "_init_worker first"
    return piece_examples(load_notes(row["path"]), row["seconds"], row["split"], _WORKER_DATA)


def _percentiles(lengths: np.ndarray) -> dict[str, float]:
    if not len(lengths):
        return {}
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": int(lengths.max())}


def build_dataset(
    pieces: Sequence[Mapping[str, Any]], out_dir: str | Path, data: DataSettings, threads: int = 1
) -> dict[str, Any]:
    """Write ``{source}_{split}.npz`` + ``.index.tsv`` for all 6 sets and ``dataset_summary.json``.

    Pieces are processed in piece_id order (parallel over pieces), so output is deterministic.
    Returns the summary.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(pieces, key=lambda r: r["piece_id"])
    if threads > 1 and len(rows) > 1:
        with Pool(min(threads, len(rows)), initializer=_init_worker, initargs=(data,)) as pool:
            results = list(pool.imap(_piece_job, rows, chunksize=1))
    else:
        _init_worker(data)
        results = [_piece_job(r) for r in rows]

    summary: dict[str, Any] = {
        "vocabulary": data.vocabulary,
        "sequence": data.sequence,
        "split_pitch": data.split_pitch,
        "window_seconds": data.window_seconds,
        "hop_seconds": data.hop_seconds,
        "max_cond_tokens": data.max_cond_tokens,
        "max_sequence": data.max_sequence,
        "transpose": list(data.transpose),
        "pieces": {}, "windows": {}, "examples": {}, "tokens": {}, "length_percentiles": {},
        "skipped": dict.fromkeys(SKIP_REASONS, 0),
        "truncated": {"cond_capped": 0, "sequence_capped": 0},
    }
    for result in results:
        for reason, n in result.skipped.items():
            summary["skipped"][reason] += n
        for reason, n in result.truncated.items():
            summary["truncated"][reason] += n
    for source in SOURCES:
        for section in ("pieces", "windows", "examples", "tokens", "length_percentiles"):
            summary[section][source] = {}
        for split in SPLITS:
            chosen = [(r, res) for r, res in zip(rows, results) if r["source"] == source and r["split"] == split]
            lengths = np.array([n for _, res in chosen for n in res.lengths], dtype=np.int64)
            causal = data.sequence == "causal"
            ws = WindowSet(
                np.concatenate([np.zeros(0, np.int16)] + [res.tokens for _, res in chosen]).astype(np.int16),
                np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                np.array([p for _, res in chosen for p in res.sep_pos], dtype=np.int32),
                np.concatenate([np.zeros(0, bool)] + [res.lead_mask for _, res in chosen]) if causal else None,
            )
            name = f"{source}_{split}"
            ws.save(out_dir / f"{name}.npz")
            write_tsv(index_path(out_dir / f"{name}.npz"), INDEX_COLUMNS,
                      ((r["piece_id"], *entry) for r, res in chosen for entry in res.index))
            summary["pieces"][source][split] = len(chosen)
            summary["windows"][source][split] = sum(res.windows for _, res in chosen)
            summary["examples"][source][split] = len(ws)
            summary["tokens"][source][split] = int(len(ws.tokens))
            summary["length_percentiles"][source][split] = _percentiles(ws.lengths())
    (out_dir / "dataset_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("split_pitch %s: examples %s, skipped %s", data.split_pitch, summary["examples"], summary["skipped"])
    return summary


def index_path(npz: str | Path) -> Path:
    """The ``.index.tsv`` written beside a window set (one row per window, INDEX_COLUMNS)."""
    npz = Path(npz)
    return npz.with_name(f"{npz.stem}.index.tsv")


def window_shifts(npz: str | Path) -> np.ndarray:
    """Each window's transposition in semitones, from the index beside ``npz``. A set with neither
    index nor dataset_summary.json beside it was written by hand (tests) and is untransposed."""
    index = index_path(npz)
    if not index.is_file():
        if (Path(npz).parent / "dataset_summary.json").is_file():
            raise FileNotFoundError(f"{index}: the window index of {npz} is missing (rule tokenize writes both)")
        return np.zeros(len(WindowSet.load(npz).sep_pos), np.int64)
    column = INDEX_COLUMNS.index("transpose")
    lines = index.read_text().splitlines()[1:]
    return np.array([int(line.split("\t")[column]) for line in lines], np.int64)


def in_keys(windows: WindowSet, shifts: np.ndarray, keys: Sequence[int], what: str = "lora.transpose") -> WindowSet:
    """The windows transposed by ``keys[0]``..``keys[1]`` semitones (inclusive); none is an error naming ``what``."""
    lo, hi = int(keys[0]), int(keys[1])
    if lo > hi:
        raise ValueError(f"config key '{what}' [{lo}, {hi}]: give [lowest, highest] semitones")
    if len(shifts) != len(windows):
        raise ValueError(f"{what}: the window index has {len(shifts)} rows for {len(windows)} windows")
    chosen = np.flatnonzero((shifts >= lo) & (shifts <= hi))
    if len(chosen) == 0:
        have = sorted(set(shifts.tolist()))
        raise ValueError(f"config key '{what}' [{lo}, {hi}]: no train window in these transpositions "
                         f"(the set holds {have[0] if have else None}..{have[-1] if have else None}; see data.transpose)")
    return windows if len(chosen) == len(windows) else windows.take(chosen)


def tokenize(pieces_tsv: str | Path, out_dir: str | Path, data: DataSettings, threads: int = 1) -> dict[str, Any]:
    """Rule tokenize: read pieces.tsv and build the data set of one data instance."""
    return build_dataset(read_pieces(pieces_tsv), out_dir, data, threads)
