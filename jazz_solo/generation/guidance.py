"""Listening guidance: sample the lead from what the real comping adds over a wrong one.

A small model hears the comping only faintly: its next-note distribution barely changes when the
comping's harmony does (``training.nll.listening_gain``), so its solos follow the chords little
better than chance. Guidance reads the model twice per step, once over the real comping and once
over the same comping a semitone lower (same rhythm, every chord tone now a clash), and samples from

    log p_real + w * (log p_real - log p_moved)

as classifier-free guidance does with an unconditioned pass (Ho & Salimans 2022; MusicGen) and
negative prompting does with a wrong one. What the real harmony makes likelier is made likelier still;
timing, which the two readings share, barely moves. ``w = 0`` is the model's own distribution.

Both readings run as one batch through one decoder (rows ``[0, n)`` real, ``[n, 2n)`` moved), so a
step costs one forward of twice the rows, not two forwards. The lead's tokens are the same in both;
only comping NOTE_ON/NOTE_OFF tokens (pitch <= split_pitch, in either sequence format) are moved.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data import tokens as T
from .kv_decode import CachedDecoder, FusedLlamaDecoder, make_decoder

MOVE_SEMITONES = -1  # down: the moved comping stays at or below split_pitch, where comping lives


class GuidedDecoder:
    """A decoder (same methods as :mod:`.kv_decode`'s) whose logits are listening-guided (module doc)."""

    def __init__(self, decoder: CachedDecoder | FusedLlamaDecoder, weight: float, split_pitch: int) -> None:
        self.decoder = decoder
        self.weight = float(weight)
        self.split_pitch = int(split_pitch)
        self.rows = 0

    def moved(self, toks: Sequence[int] | torch.Tensor) -> list[int]:
        """``toks`` with the comping's pitches a semitone lower (the lead's untouched)."""
        seq = np.asarray(toks.tolist() if isinstance(toks, torch.Tensor) else list(toks), dtype=np.int64)
        comping = seq % 128 <= self.split_pitch
        return T.move_pitches(seq, MOVE_SEMITONES, comping).tolist()

    def _mix(self, logits: torch.Tensor) -> torch.Tensor:
        real, moved = torch.log_softmax(logits.float(), dim=-1).chunk(2, dim=0)
        return real + self.weight * (real - moved)

    def prefill(self, prompt: Sequence[int], batch: int) -> torch.Tensor:
        self.rows = batch
        return self._mix(self.decoder.prefill_rows([list(prompt), self.moved(prompt)], batch))

    def step(self, toks: torch.Tensor) -> torch.Tensor:
        flat = toks.reshape(-1)
        return self._mix(self.decoder.step(torch.cat([flat, torch.tensor(self.moved(flat), dtype=flat.dtype)])))

    def keep(self, rows: Sequence[int]) -> None:
        rows = list(rows)
        self.decoder.keep(rows + [r + self.rows for r in rows])
        self.rows = len(rows)

    def rewind(self, n: int) -> None:
        self.decoder.rewind(n)


def guided_decoder(model: torch.nn.Module, weight: float,
                   split_pitch: int) -> CachedDecoder | FusedLlamaDecoder | GuidedDecoder:
    """The model's decoder, listening-guided with ``weight`` (> 0), or as it is (0)."""
    decoder = make_decoder(model)
    return GuidedDecoder(decoder, weight, split_pitch) if weight > 0 else decoder
