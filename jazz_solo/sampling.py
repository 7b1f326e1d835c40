"""Sampling one token per step for a batch of solos: grammar mask, logits processing, seeds.

The grammar mask (DESIGN §2) keeps every sampled lead stream decodable without loss:

* NOTE_ON only for a silent pitch, NOTE_OFF only for a sounding pitch that was opened at an
  earlier tick (so every note lasts at least one 10 ms tick, as in the training data);
* never BOS, SEP or PAD; EOS is allowed (notes still sounding are closed at the window end);
* a TIME_SHIFT that would reach or cross the window's time budget ends the window: it is
  recorded clamped to the budget, so no note ever runs past the window end.

The state is batched torch tensors (one row per sample) so building the mask costs a few tensor
ops per step, not a Python loop over the vocabulary. Each sample draws from its own
``torch.Generator``, one uniform number per sampled token, so a sample's output does not depend
on which other samples share its batch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import tokens as T

_PITCHES = 128


def sample_seed(base_seed: int, piece_index: int, sample_index: int) -> int:
    """A distinct, well-mixed 31-bit seed for (config seed, piece, sample); recorded per sample."""
    state = np.random.SeedSequence([int(base_seed) & 0xFFFFFFFF, int(piece_index), int(sample_index)])
    return int(state.generate_state(1)[0] & 0x7FFFFFFF)


def make_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per sample (sampling happens on CPU probabilities, see :func:`sample`)."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


class GrammarState:
    """Per-sample lead state of one window: sounding pitches, clock, budget, finished flag.

    ``budget_ticks`` is the window's length on the 10 ms grid; ``elapsed`` starts at 0 (the
    window origin). Call :meth:`allowed` for the mask of the next token and :meth:`advance`
    with the chosen tokens; :meth:`advance` returns the tokens as they must be recorded
    (a time shift crossing the budget is clamped to it).
    """

    def __init__(self, batch: int, budget_ticks: int, device: torch.device | str = "cpu") -> None:
        if budget_ticks <= 0:
            raise ValueError(f"window time budget must be positive, got {budget_ticks} ticks")
        self.batch = batch
        self.budget = int(budget_ticks)
        self.device = torch.device(device)
        self.sounding = torch.zeros(batch, _PITCHES, dtype=torch.bool, device=self.device)
        # Opened at the current tick: closing them now would make a zero-length note.
        self.fresh = torch.zeros(batch, _PITCHES, dtype=torch.bool, device=self.device)
        self.elapsed = torch.zeros(batch, dtype=torch.long, device=self.device)
        self.done = torch.zeros(batch, dtype=torch.bool, device=self.device)
        self._rows = torch.arange(batch, device=self.device)
        self._static = torch.ones(T.VOCAB_SIZE, dtype=torch.bool, device=self.device)
        self._static[[T.PAD, T.BOS, T.SEP]] = False

    def allowed(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Bool mask (len(rows), VOCAB_SIZE) of the tokens each sample may emit next."""
        sounding = self.sounding if rows is None else self.sounding[rows]
        fresh = self.fresh if rows is None else self.fresh[rows]
        mask = self._static.expand(sounding.shape[0], -1).clone()
        mask[:, T.NOTE_ON : T.NOTE_ON + _PITCHES] = ~sounding
        mask[:, T.NOTE_OFF : T.NOTE_OFF + _PITCHES] = sounding & ~fresh
        return mask

    def advance(self, toks: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Apply one token per row in ``rows`` (default: all); returns the tokens to record."""
        rows = self._rows if rows is None else rows
        toks = toks.to(self.device).clone()
        is_on = toks < T.NOTE_OFF
        is_off = (toks >= T.NOTE_OFF) & (toks < T.TIME_SHIFT)
        is_shift = (toks >= T.TIME_SHIFT) & (toks < T.VELOCITY)
        pitch = toks % _PITCHES
        self.sounding[rows[is_on], pitch[is_on]] = True
        self.fresh[rows[is_on], pitch[is_on]] = True
        self.sounding[rows[is_off], pitch[is_off]] = False
        if bool(is_shift.any()):
            srows = rows[is_shift]
            left = self.budget - self.elapsed[srows]
            ticks = torch.minimum(toks[is_shift] - T.TIME_SHIFT + 1, left)
            toks[is_shift] = T.TIME_SHIFT + ticks - 1
            self.elapsed[srows] += ticks
            self.fresh[srows] = False
            self.done[srows] |= self.elapsed[srows] >= self.budget
        eos = toks == T.EOS
        self.done[rows[eos]] = True
        return toks

    def closing_tokens(self, row: int) -> list[int]:
        """Tokens that close row ``row`` as the training data does: shift to the window end,
        NOTE_OFF for every pitch still sounding, EOS (what ``encode_window`` would emit). Only
        EOS when nothing sounds."""
        pitches = torch.nonzero(self.sounding[row]).flatten().tolist()
        if not pitches:
            return [T.EOS]
        out = T.time_shift_tokens(self.budget - int(self.elapsed[row]))
        out += [T.NOTE_OFF + int(p) for p in pitches]
        return out + [T.EOS]


def process_logits(
    logits: torch.Tensor,
    allowed: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> torch.Tensor:
    """Probabilities (float32) from logits: grammar mask, temperature, top-k, then top-p (nucleus).

    The mask is applied first so top-k/top-p choose among legal tokens only; the most likely legal
    token always survives, so a row never ends up empty.
    """
    if temperature <= 0:
        raise ValueError(f"config key 'generate.temperature' must be > 0, got {temperature}")
    scores = logits.float().masked_fill(~allowed, float("-inf")) / float(temperature)
    if top_k and top_k < scores.shape[-1]:
        kth = torch.topk(scores, int(top_k), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        before = torch.cumsum(sorted_p, dim=-1) - sorted_p  # mass of the tokens ranked above
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def sample(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row, row i drawn with ``generators[i]`` (inverse CDF of one uniform draw)."""
    probs = probs.detach().to("cpu", torch.float64)
    cdf = torch.cumsum(probs, dim=-1)
    u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
    u = u * cdf[:, -1]  # renormalise against float rounding
    idx = torch.searchsorted(cdf, u.unsqueeze(-1), right=True).squeeze(-1)
    idx = torch.minimum(idx, torch.tensor(probs.shape[-1] - 1))
    # Never land on a zero-probability token (possible only at exact CDF plateaus).
    bad = probs.gather(-1, idx.unsqueeze(-1)).squeeze(-1) <= 0
    if bool(bad.any()):
        idx[bad] = probs[bad].argmax(dim=-1)
    return idx
