"""Per-lead-token negative log-likelihood: the training loss and the held-out learning measure."""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from . import tokens
from .batching import IGNORE, Batch, collate, eval_batches
from .windows import WindowSet

CHANCE_NLL = math.log(tokens.VOCAB_SIZE)  # uniform guess over the vocabulary: ln 392 = 5.97


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
def mean_nll(
    model: torch.nn.Module, ws: WindowSet, batch_size: int = 32, device: torch.device | str | None = None
) -> tuple[float, int]:
    """Mean NLL (nats) per lead token over every window of ``ws``, and the token count."""
    if len(ws) == 0:
        raise ValueError("cannot evaluate on an empty window set")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for idx in eval_batches(ws.lengths(), batch_size):
        with autocast(device):
            loss, n = lead_loss_sum(model, collate(ws, idx).to(device))
        total += float(loss)
        count += n
    model.train(was_training)
    return total / max(count, 1), count
