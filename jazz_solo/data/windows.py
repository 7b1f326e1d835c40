"""Time-aligned training examples: ``BOS cond SEP lead EOS`` for one window [t, t+W) of a piece.

Both parts are timed from the window start t, so the model always sees conditioning and the
lead that goes with it (gluing whole pieces end to end, as the first version did, a 512-token
crop rarely held both; docs/architecture.md#sequence-format). Window membership uses the quantised onset tick (10 ms grid).

On disk a window set is an ``.npz`` with ``tokens`` (int16, all sequences concatenated),
``offsets`` (int64, n+1 boundaries) and ``sep_pos`` (int32, index of SEP in each sequence); a set
of the causal sequence format (:mod:`jazz_solo.data.causal_sequence`) has no SEP (``sep_pos`` 0) and
adds ``lead_mask`` (bool per token: the tokens the loss covers).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import tokens
from .tokens import Note


def notes_in_window(notes: Sequence[Note], start: float, seconds: float) -> list[Note]:
    """Notes whose quantised onset lies in [start, start + seconds)."""
    lo, hi = tokens.to_tick(start), tokens.to_tick(start + seconds)
    return [n for n in notes if lo <= tokens.to_tick(n.start) < hi]


def window_starts(duration: float, seconds: float, hop: float) -> list[float]:
    """Start times of windows of ``seconds`` every ``hop`` covering [0, duration)."""
    count = max(1, int(np.ceil(max(duration - seconds, 0.0) / hop)) + 1)
    return [round(i * hop, 6) for i in range(count)]


def excerpt_starts(duration: float, seconds: float, count: int) -> list[float]:
    """Onsets of ``count`` excerpts of ``seconds`` spread over a piece of ``duration``: each centred
    in one of ``count`` equal parts, kept inside the piece, on the 10 ms grid (fewer when the piece
    is too short for them to differ).

    Why not the opening: a jazz piece opens (and closes) with its head, so its first seconds are not
    its typical right hand (dev test pieces: median note 0.42-0.51 s in the first 32 s, 0.22-0.26 s
    in the middle 32 s), and a model that plays like the whole piece looks wrong against them.
    """
    if count < 1:
        raise ValueError(f"excerpt count must be >= 1, got {count}")
    latest = max(duration - seconds, 0.0)
    centres = [(i + 0.5) * duration / count for i in range(count)]
    # a piece shorter than the excerpts gives fewer of them, not the same one twice
    return sorted({round(float(min(max(c - seconds / 2, 0.0), latest)), 2) for c in centres})


def excerpt(notes: Sequence[Note], start: float, seconds: float) -> list[Note]:
    """Notes with onset in [start, start + seconds) (as :func:`notes_in_window`), moved so the excerpt
    starts at 0; ends are kept (cut them with ``scoring.cap`` where a solo stops)."""
    return [n._replace(start=n.start - start, end=n.end - start) for n in notes_in_window(notes, start, seconds)]


Encoder = Callable[..., list[int]]  # (notes, origin, end) -> tokens, e.g. a Vocabulary's encode_lead


def encode_window(
    notes: Sequence[Note], start: float, seconds: float, encode: Encoder = tokens.encode_notes
) -> list[int]:
    """Events of the notes starting in the window, timed from ``start`` (onset/offset events are
    closed at its end; the duration vocabulary's lead keeps real durations)."""
    return encode(notes_in_window(notes, start, seconds), start, start + seconds)


def build_example(
    cond_tokens: Sequence[int], lead_tokens: Sequence[int], max_cond_tokens: int, max_sequence: int
) -> tuple[np.ndarray, int]:
    """``BOS cond[:max_cond_tokens] SEP lead EOS`` capped at ``max_sequence`` tokens.

    Returns (sequence, sep_pos). The lead is cut at the end (EOS then missing) only when the
    whole example would exceed ``max_sequence``.
    """
    cond = list(cond_tokens[:max_cond_tokens])
    seq = [tokens.BOS, *cond, tokens.SEP, *lead_tokens, tokens.EOS]
    return np.asarray(seq[:max_sequence], dtype=np.int16), len(cond) + 1


def prompt(cond_tokens: Sequence[int], primer_max_tokens: int) -> list[int]:
    """The generation prompt ``BOS cond[:primer_max_tokens] SEP``."""
    return [tokens.BOS, *cond_tokens[:primer_max_tokens], tokens.SEP]


@dataclass
class WindowSet:
    """Sequences of one (source, split), stored flat."""

    tokens: np.ndarray
    offsets: np.ndarray
    sep_pos: np.ndarray
    lead_mask: np.ndarray | None = None  # causal format: per token, whether the loss covers it

    def __len__(self) -> int:
        return len(self.sep_pos)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def mask_of(self, i: int) -> np.ndarray | None:
        """Sequence ``i``'s lead mask (None for the windowed format: the lead is what follows SEP)."""
        return None if self.lead_mask is None else self.lead_mask[self.offsets[i] : self.offsets[i + 1]]

    def take(self, indices: Sequence[int]) -> "WindowSet":
        """The windows ``indices``, in that order."""
        idx = [int(i) for i in indices]
        masks = None if self.lead_mask is None else [self.mask_of(i) for i in idx]
        return WindowSet.from_sequences([self[i] for i in idx], self.sep_pos[idx], masks)

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[np.ndarray], sep_pos: Sequence[int], masks: Sequence[np.ndarray] | None = None
    ) -> "WindowSet":
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(sequences).astype(np.int16) if len(sequences) else np.zeros(0, np.int16)
        mask = None
        if masks is not None:
            mask = np.concatenate(masks).astype(bool) if len(masks) else np.zeros(0, bool)
        return cls(flat, offsets, np.asarray(sep_pos, dtype=np.int32), mask)

    def save(self, path: str | Path) -> None:
        extra = {} if self.lead_mask is None else {"lead_mask": self.lead_mask}
        np.savez(path, tokens=self.tokens, offsets=self.offsets, sep_pos=self.sep_pos, **extra)

    @classmethod
    def load(cls, path: str | Path) -> "WindowSet":
        with np.load(path) as z:
            return cls(z["tokens"], z["offsets"], z["sep_pos"], z["lead_mask"] if "lead_mask" in z else None)
