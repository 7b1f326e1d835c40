"""Negative log-likelihood of the lead: the training loss (per lead token) and the held-out learning
measure (also per lead note, which compares across vocabularies: they spend different numbers of
tokens on a note)."""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from . import tokens
from .batching import IGNORE, Batch, collate, eval_batches
from .windows import WindowSet



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
