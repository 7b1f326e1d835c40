"""Batches of ``BOS cond SEP lead EOS`` windows for training and evaluation.

Length bucketing: each epoch shuffles the windows (seeded), cuts the order into chunks of
``BUCKET_BATCHES`` batches, sorts each chunk by length and cuts it into batches, then shuffles
the batches. Batches hold windows of similar length, so little compute goes into padding,
while the order stays random at the chunk scale. (Padding-free packing into one long row
needs a block-diagonal mask; with SDPA that costs attention over the whole packed row, so
bucketing is the faster choice here; bench/bench_train.py measures both against naive padding.)

Labels mark the loss: only the targets after SEP (lead tokens and EOS) count; conditioning
and PAD get -100. The model shifts nothing itself: ``labels[:, j]`` is the target predicted
at position ``j - 1`` (see :func:`jazz_solo.training.nll.lead_loss_sum`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data import tokens
from ..data.windows import WindowSet

IGNORE = -100
BUCKET_BATCHES = 32  # batches per sorted chunk: larger = less padding, less randomness


@dataclass
class Batch:
    input_ids: torch.Tensor   # [B, L] int64, right-padded with PAD
    labels: torch.Tensor      # [B, L] int64, IGNORE except lead targets
    attention_mask: torch.Tensor  # [B, L] 1 for real tokens

    @property
    def n_targets(self) -> int:
        """Tokens the loss is computed on (lead + EOS), shifted like the loss."""
        return int((self.labels[:, 1:] != IGNORE).sum())

    @property
    def n_tokens(self) -> int:
        """Real (non-PAD) tokens fed to the model."""
        return int(self.attention_mask.sum())

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.input_ids.to(device), self.labels.to(device), self.attention_mask.to(device))


def lead_labels(seq: np.ndarray, sep_pos: int, lead_mask: np.ndarray | None = None) -> np.ndarray:
    """Labels of one sequence: the token itself after SEP, IGNORE up to and including SEP; with a
    ``lead_mask`` (causal format), the token itself where the mask is set, IGNORE elsewhere."""
    labels = seq.astype(np.int64)
    if lead_mask is not None:
        labels[~lead_mask] = IGNORE
    else:
        labels[: sep_pos + 1] = IGNORE
    return labels


def training_labels(seq: np.ndarray, sep_pos: int, lead_mask: np.ndarray | None = None) -> np.ndarray:
    """What training learns: the lead (:func:`lead_labels`) in the windowed format; in the causal
    format every token after BOS, the comping's too. A causal model must know when comping comes
    to know when the lead plays: trained on the lead alone it never learned that a time shift
    ends at comping, and its solos played 3-4x the real number of notes (README)."""
    if lead_mask is None:
        return lead_labels(seq, sep_pos)
    labels = seq.astype(np.int64)
    labels[0] = IGNORE
    return labels


def collate(ws: WindowSet, idx: Sequence[int], pad_to: int | None = None, training: bool = False) -> Batch:
    """Right-padded batch of windows ``idx`` (to the longest, or to ``pad_to``), labelled for
    evaluation (the lead) or, with ``training``, for learning (:func:`training_labels`)."""
    label = training_labels if training else lead_labels
    seqs = [ws[int(i)] for i in idx]
    width = max(len(s) for s in seqs) if pad_to is None else pad_to
    ids = np.full((len(seqs), width), tokens.PAD, dtype=np.int64)
    labels = np.full((len(seqs), width), IGNORE, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, (i, seq) in enumerate(zip(idx, seqs)):
        n = len(seq)
        ids[row, :n] = seq
        labels[row, :n] = label(seq, int(ws.sep_pos[int(i)]), ws.mask_of(int(i)))
        mask[row, :n] = 1
    return Batch(torch.from_numpy(ids), torch.from_numpy(labels), torch.from_numpy(mask))


def epoch_batches(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket: bool = True
) -> list[np.ndarray]:
    """Index batches of one epoch; a pure function of (lengths, batch_size, seed, epoch).

    Being pure is what makes resume exact: step k's batch is recomputed, not replayed.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if not bucket:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for c in range(0, len(order), chunk):
        part = order[c : c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batches_per_epoch(n: int, batch_size: int, bucket: bool = True) -> int:
    """Number of batches :func:`epoch_batches` yields (the same every epoch)."""
    if not bucket:
        return -(-n // batch_size)
    chunk = batch_size * BUCKET_BATCHES
    full, rest = divmod(n, chunk)
    return full * BUCKET_BATCHES + -(-rest // batch_size)


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Deterministic batches for evaluation: sorted by length (least padding), no shuffling."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def subset(ws: WindowSet, max_windows: int | None) -> WindowSet:
    """At most ``max_windows`` windows, evenly spaced over the set (fixed, no randomness)."""
    if max_windows is None or len(ws) <= max_windows:
        return ws
    keep = np.linspace(0, len(ws) - 1, max_windows).round().astype(int)
    return ws.take(keep)
