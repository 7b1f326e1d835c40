"""Negative log-likelihood of the lead: the training loss (per lead token) and the held-out learning
measure (also per lead note, which compares across vocabularies: they spend different numbers of
tokens on a note)."""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..data import tokens
from .batching import IGNORE, Batch, collate, eval_batches, lead_labels
from ..data.windows import WindowSet

LISTENING_SHIFTS = (-1, 1)  # a semitone: every chord tone becomes a clash, the register barely moves


def chance_nll(vocab_size: int) -> float:
    """NLL of a uniform guess over the vocabulary (ln 392 = 5.97 for the performance one)."""
    return math.log(vocab_size)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (tensor cores, no loss scaling needed); plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lead_loss_sum(model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the lead targets of ``batch`` and their count.

    No attention mask is passed: batches are right-padded and attention is causal, so real
    tokens never see the PAD after them; this keeps SDPA on its fast ``is_causal`` path. PAD
    positions produce logits that the labels ignore.
    """
    logits = model(input_ids=batch.input_ids, use_cache=False).logits
    targets = batch.labels[:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((targets != IGNORE).sum())


@torch.no_grad()
def nll_totals(
    model: torch.nn.Module, ws: WindowSet, batch_size: int = 32, device: torch.device | str | None = None
) -> dict[str, float]:
    """Summed lead NLL (nats) over every window of ``ws``, with its lead token and lead note counts
    (a note = a NOTE_ON target) and the means per token and per note."""
    if len(ws) == 0:
        raise ValueError("cannot evaluate on an empty window set")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, notes = 0.0, 0, 0
    for idx in eval_batches(ws.lengths(), batch_size):
        batch = collate(ws, idx)
        targets = batch.labels[:, 1:]
        notes += int(((targets >= tokens.NOTE_ON) & (targets < tokens.NOTE_OFF)).sum())
        with autocast(device):
            loss, n = lead_loss_sum(model, batch.to(device))
        total += float(loss)
        count += n
    model.train(was_training)
    return {"nll_sum": total, "tokens": count, "notes": notes,
            "per_token": total / max(count, 1), "per_note": total / max(notes, 1)}


def mean_nll(
    model: torch.nn.Module, ws: WindowSet, batch_size: int = 32, device: torch.device | str | None = None
) -> tuple[float, int]:
    """Mean NLL (nats) per lead token over every window of ``ws``, and the token count."""
    totals = nll_totals(model, ws, batch_size, device)
    return totals["per_token"], int(totals["tokens"])


def with_comping_moved(ws: WindowSet, semitones: int) -> WindowSet:
    """``ws`` with every comping NOTE_ON/NOTE_OFF moved by ``semitones`` (kept in 0-127); the lead,
    the timing and every other token untouched. Comping tokens are the ones the loss ignores."""
    sequences = []
    for i in range(len(ws)):
        seq = ws[i].astype(np.int64)
        comping = lead_labels(seq, int(ws.sep_pos[i]), ws.mask_of(i)) == IGNORE
        sequences.append(tokens.move_pitches(seq, semitones, comping).astype(ws.tokens.dtype))
    masks = None if ws.lead_mask is None else [ws.mask_of(i) for i in range(len(ws))]
    return WindowSet.from_sequences(sequences, ws.sep_pos, masks)


def listening_gain(
    model: torch.nn.Module, ws: WindowSet, batch_size: int = 32, device: torch.device | str | None = None,
    shifts: tuple[int, ...] = LISTENING_SHIFTS, real_per_note: float | None = None,
) -> float:
    """How much the comping's harmony helps the model predict the lead: the mean over ``shifts`` of
    the NLL per lead note with the comping moved that many semitones, minus the NLL with the real
    comping (nats). About 0 for a model that ignores what the comping plays; > 0 for one that
    listens. Unlike a sampled solo's harmonic fit it needs no sampling, so it is not noisy.
    ``real_per_note``: the NLL per note with the real comping, when the caller has it already."""
    real = nll_totals(model, ws, batch_size, device)["per_note"] if real_per_note is None else real_per_note
    moved = [nll_totals(model, with_comping_moved(ws, k), batch_size, device)["per_note"] for k in shifts]
    return float(np.mean(moved)) - real
