"""Sampling one token per step for a batch of solos: grammar mask, logits processing, seeds.

The grammar mask (docs/architecture.md#token-format) keeps every sampled lead stream decodable without loss:

* NOTE_ON only for a silent pitch inside the lead's register (above the split pitch, on the
  piano's 21-108), NOTE_OFF only for a sounding pitch that was opened at an earlier tick (so
  every note lasts at least one 10 ms tick, as in the training data);
* never BOS, SEP or PAD; EOS is allowed (notes still sounding are closed at the window end);
* a TIME_SHIFT that would reach or cross the window's time budget ends the window: it is
  recorded clamped to the budget, so no note ever runs past the window end.

The mask is kept per sample and updated event by event (no loop over the vocabulary, no
rebuilding of a (batch, vocab) mask per step). Each sample draws from its own
``torch.Generator``, one uniform number per sampled token, so a sample's output does not depend
on which other samples share its batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data import durations as D
from ..data import tokens as T

_PITCHES = 128
PIANO = (21, 108)  # the lowest and highest key of an 88-key piano


def lead_register(split_pitch: int) -> tuple[int, int]:
    """Pitches a lead note may have: above the split pitch and on the piano."""
    return max(PIANO[0], int(split_pitch) + 1), PIANO[1]


def sample_seed(base_seed: int, piece_index: int, sample_index: int) -> int:
    """A distinct, well-mixed 31-bit seed for (config seed, piece, sample); recorded per sample."""
    state = np.random.SeedSequence([int(base_seed) & 0xFFFFFFFF, int(piece_index), int(sample_index)])
    return int(state.generate_state(1)[0] & 0x7FFFFFFF)


def make_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per sample (sampling happens on CPU probabilities, see :func:`sample`)."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


class _LeadGrammar:
    """What both vocabularies' grammars share: the batch, the time budget, the register, and when
    EOS may come (``eos_margin_ticks`` > 0: only that close to the window's end; EOS means "the rest
    of the window is silent", and a small model, which sums elapsed time poorly, samples it early)."""

    vocab_size = T.VOCAB_SIZE

    def __init__(self, batch: int, budget_ticks: int, register: tuple[int, int] = (0, _PITCHES - 1),
                 eos_margin_ticks: int = 0) -> None:
        if budget_ticks <= 0:
            raise ValueError(f"window time budget must be positive, got {budget_ticks} ticks")
        self.batch = batch
        self.budget = int(budget_ticks)
        self.eos_margin = int(eos_margin_ticks)
        self.register = np.zeros(_PITCHES, dtype=bool)
        self.register[register[0] : register[1] + 1] = True
        self._elapsed = np.zeros(batch, dtype=np.int64)
        self._done = np.zeros(batch, dtype=bool)
        # Pitches opened at the current tick: closing or re-striking them now would make a zero-length note.
        self._fresh: list[list[int]] = [[] for _ in range(batch)]
        self.elapsed = torch.from_numpy(self._elapsed)
        self.done = torch.from_numpy(self._done)

    def _eos_near_end_only(self, mask: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """``mask`` (a copy, one row per ``rows``) without EOS where the window has more than the
        margin left."""
        if self.eos_margin > 0:
            mask[self.budget - self._elapsed[rows] > self.eos_margin, T.EOS] = False
        return torch.from_numpy(mask)

    def _shift(self, row: int, tok: int) -> int:
        """Advance ``row``'s clock by a TIME_SHIFT, clamped to the budget (reaching it ends the
        window); returns the token to record."""
        ticks = min(tok - T.TIME_SHIFT + 1, self.budget - int(self._elapsed[row]))
        self._elapsed[row] += ticks
        if self._elapsed[row] >= self.budget:
            self._done[row] = True
        return T.TIME_SHIFT + ticks - 1

    def out_of_register(self) -> np.ndarray:
        """Bool (vocab,) of the NOTE_ONs the register forbids (for the removed-mass log)."""
        out = np.zeros(self.vocab_size, dtype=bool)
        out[T.NOTE_ON : T.NOTE_ON + _PITCHES] = ~self.register
        return out

    def nucleus_rows(self, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor | None:
        """Rows that top-p applies to (None: all of them)."""
        return None


class GrammarState(_LeadGrammar):
    """Per-sample lead state of one window for the performance vocabulary: sounding pitches,
    clock, budget, finished flag.

    ``budget_ticks`` is the window's length on the 10 ms grid; ``elapsed`` starts at 0 (the
    window origin). Call :meth:`allowed` for the mask of the next token and :meth:`advance`
    with the chosen tokens; :meth:`advance` returns the tokens as they must be recorded
    (a time shift crossing the budget is clamped to it).

    The mask is kept up to date event by event (a NOTE_ON flips two entries, a time shift
    re-enables the NOTE_OFFs of the notes opened at the previous tick) in a numpy array, so a
    step costs a few scalar writes instead of rebuilding a (batch, vocab) mask; ``sounding``,
    ``elapsed`` and ``done`` are torch views of the same memory.
    """

    def __init__(self, batch: int, budget_ticks: int, register: tuple[int, int] = (0, _PITCHES - 1),
                 eos_margin_ticks: int = 0) -> None:
        super().__init__(batch, budget_ticks, register, eos_margin_ticks)
        self._mask = np.ones((batch, self.vocab_size), dtype=bool)
        self._mask[:, T.NOTE_ON : T.NOTE_ON + _PITCHES] = self.register
        self._mask[:, T.NOTE_OFF : T.NOTE_OFF + _PITCHES] = False  # nothing sounds yet
        self._mask[:, [T.PAD, T.BOS, T.SEP]] = False
        self._sounding = np.zeros((batch, _PITCHES), dtype=bool)
        self.sounding = torch.from_numpy(self._sounding)

    def allowed(self, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Bool mask (len(rows), VOCAB_SIZE) of the tokens each sample may emit next (a copy)."""
        rows_a = np.arange(self.batch) if rows is None else np.asarray(rows, dtype=np.int64)
        return self._eos_near_end_only(self._mask[rows_a], rows_a)

    def advance(self, toks: torch.Tensor, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Apply one token per row in ``rows`` (default: all); returns the tokens to record."""
        rows_l = range(self.batch) if rows is None else [int(r) for r in rows]
        out = [int(t) for t in toks.reshape(-1).tolist()]
        mask = self._mask
        for i, (row, tok) in enumerate(zip(rows_l, out)):
            if tok < T.NOTE_OFF:  # NOTE_ON: now sounding, not closable before time moves
                self._sounding[row, tok] = True
                mask[row, tok] = False
                self._fresh[row].append(tok)
            elif tok < T.TIME_SHIFT:
                pitch = tok - T.NOTE_OFF
                self._sounding[row, pitch] = False
                mask[row, tok] = False
                mask[row, pitch] = self.register[pitch]
            elif tok < T.VELOCITY:
                out[i] = self._shift(row, tok)
                for pitch in self._fresh[row]:
                    if self._sounding[row, pitch]:
                        mask[row, T.NOTE_OFF + pitch] = True
                self._fresh[row].clear()
            elif tok == T.EOS:
                self._done[row] = True
        return torch.tensor(out, dtype=torch.long)

    def closing_tokens(self, row: int) -> list[int]:
        """Tokens that close row ``row`` as the training data does: shift to the window end,
        NOTE_OFF for every pitch still sounding, EOS (what ``encode_window`` would emit). Only
        EOS when nothing sounds."""
        pitches = np.flatnonzero(self._sounding[row]).tolist()
        if not pitches:
            return [T.EOS]
        out = T.time_shift_tokens(self.budget - int(self._elapsed[row]))
        out += [T.NOTE_OFF + int(p) for p in pitches]
        return out + [T.EOS]


class DurationGrammar(_LeadGrammar):
    """Per-sample lead state of one window for the duration vocabulary (:mod:`jazz_solo.data.durations`).

    The lead is ``[TIME_SHIFT] [VELOCITY] NOTE_ON DURATION+``. The allowed set depends only on
    what came last (a *mode*) and on the pitches struck at the current tick:

    * after NOTE_ON: only a DURATION (a note always gets its length);
    * after a top-bin DURATION: another DURATION (durations add up) or any event;
    * after VELOCITY: only a NOTE_ON (the data never sets a velocity for nothing);
    * otherwise: NOTE_ON in the register, TIME_SHIFT, VELOCITY, EOS; never NOTE_OFF or a
      special. A pitch already struck at this tick cannot be struck again (a zero-length note).

    Time shifts that reach the budget end the window, as in :class:`GrammarState`; notes keep
    their durations past the window end.
    """

    vocab_size = D.VOCAB_SIZE
    _FREE, _NOTE, _TOP, _VEL = range(4)

    def __init__(self, batch: int, budget_ticks: int, register: tuple[int, int] = (0, _PITCHES - 1),
                 eos_margin_ticks: int = 0) -> None:
        super().__init__(batch, budget_ticks, register, eos_margin_ticks)
        onsets = np.zeros(self.vocab_size, dtype=bool)
        onsets[T.NOTE_ON : T.NOTE_ON + _PITCHES] = self.register
        free = onsets.copy()
        free[T.TIME_SHIFT : T.EOS + 1] = True  # shifts, velocities, EOS
        durations = np.zeros(self.vocab_size, dtype=bool)
        durations[D.DURATION :] = True
        self._modes = np.stack([free, durations, free | durations, onsets])
        self._mode = np.zeros(batch, dtype=np.int64)

    def allowed(self, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Bool mask (len(rows), VOCAB_SIZE) of the tokens each sample may emit next."""
        rows_a = np.arange(self.batch) if rows is None else np.asarray(rows, dtype=np.int64)
        mask = self._modes[self._mode[rows_a]]
        for i, row in enumerate(rows_a):
            mask[i, self._fresh[row]] = False
        return self._eos_near_end_only(mask, rows_a)

    def advance(self, toks: torch.Tensor, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Apply one token per row in ``rows`` (default: all); returns the tokens to record."""
        rows_l = range(self.batch) if rows is None else [int(r) for r in rows]
        out = [int(t) for t in toks.reshape(-1).tolist()]
        for i, (row, tok) in enumerate(zip(rows_l, out)):
            if tok < T.NOTE_OFF:
                self._mode[row] = self._NOTE
                self._fresh[row].append(tok)
            elif D.is_duration(tok):
                self._mode[row] = self._TOP if tok == D.TOP else self._FREE
            elif T.is_time_shift(tok):
                out[i] = self._shift(row, tok)
                self._fresh[row].clear()
                self._mode[row] = self._FREE
            elif T.is_velocity(tok):
                self._mode[row] = self._VEL
            elif tok == T.EOS:
                self._done[row] = True
        return torch.tensor(out, dtype=torch.long)

    def nucleus_rows(self, rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Rows choosing an event rather than a note's length: top-p applies to those only. A
        nucleus cut on a length trims the long tail of the duration distribution, which biased
        every note shorter (dev data: median length 0.19 s vs 0.40 s real at top_p 0.95)."""
        rows_a = np.arange(self.batch) if rows is None else np.asarray(rows, dtype=np.int64)
        return torch.from_numpy(self._mode[rows_a] != self._NOTE)

    def writing_note(self, row: int) -> bool:
        """Whether ``row`` is inside a note (after its VELOCITY or NOTE_ON, before its length)."""
        return int(self._mode[row]) in (self._NOTE, self._VEL)

    def closing_tokens(self, row: int) -> list[int]:
        """EOS, after a default duration if the stream was cut right after a NOTE_ON (a note after
        a lone VELOCITY is simply not played)."""
        if self._mode[row] == self._NOTE:
            return [D.DURATION + D.bin_index(D.DEFAULT_TICKS), T.EOS]
        return [T.EOS]


def process_logits(
    logits: torch.Tensor,
    allowed: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    nucleus_rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Probabilities (float32) from logits: grammar mask, temperature, top-k, then top-p (nucleus).

    The mask is applied first so top-k/top-p choose among legal tokens only; the most likely legal
    token always survives, so a row never ends up empty. ``nucleus_rows`` (bool per row) limits
    top-p to those rows; the others keep their whole (masked, tempered) distribution.
    """
    if temperature <= 0:
        raise ValueError(f"config key 'generate.temperature' must be > 0, got {temperature}")
    scores = logits.float().masked_fill(~allowed, float("-inf"))
    if temperature != 1.0:
        scores = scores / float(temperature)
    if top_k and top_k < scores.shape[-1]:
        kth = torch.topk(scores, int(top_k), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p >= 1.0 or (nucleus_rows is not None and not bool(nucleus_rows.any())):
        return torch.softmax(scores, dim=-1)
    sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
    sorted_p = torch.softmax(sorted_scores, dim=-1)
    # Drop a token when the tokens ranked above it already hold top_p; the best one always stays.
    drop = sorted_p.cumsum(-1) - sorted_p >= top_p
    if nucleus_rows is not None:
        drop &= nucleus_rows.reshape(-1, 1)
    sorted_p = sorted_p.masked_fill(drop, 0.0)
    probs = torch.zeros_like(sorted_p).scatter_(-1, order, sorted_p)
    return probs / probs.sum(dim=-1, keepdim=True)


def sample(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row, row i drawn with ``generators[i]`` (inverse CDF of one uniform draw)."""
    p = probs.detach().to("cpu", torch.float64).numpy()
    cdf = np.cumsum(p, axis=-1)
    u = np.array([torch.rand(1, generator=g, dtype=torch.float64).item() for g in generators]) * cdf[:, -1]
    idx = (cdf <= u[:, None]).sum(axis=-1)  # first j with cdf[j] > u: never a zero-probability token
    idx = np.minimum(idx, p.shape[-1] - 1)
    bad = p[np.arange(len(idx)), idx] <= 0  # only at float round-off at the very end of the CDF
    idx[bad] = p[bad].argmax(axis=-1)
    return torch.from_numpy(idx.astype(np.int64))
