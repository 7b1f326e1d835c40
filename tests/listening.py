"""A model that can only get its lead right by listening: the lead doubles the comping's one pitch
two octaves up (for the listening measures and listening guidance tests)."""
from __future__ import annotations

import random

import numpy as np
import torch

from jazz_solo.data import durations, vocab
from jazz_solo.data.tokens import Note
from jazz_solo.data.windows import WindowSet, build_example
from jazz_solo.settings import ModelSettings
from jazz_solo.training.batching import collate
from jazz_solo.training.model import build_model
from jazz_solo.training.nll import lead_loss_sum


def doubling_windows(n: int, seed: int) -> WindowSet:
    """Windows whose lead plays the comping's one pitch two octaves up: only the comping tells it."""
    rng = random.Random(seed)
    sequences, seps = [], []
    for _ in range(n):
        pitch = rng.randint(36, 59)
        comping = [Note(0.5 * i, 0.5 * i + 0.4, pitch, 80) for i in range(4)]
        lead = [Note(0.25 * i, 0.25 * i + 0.2, pitch + 24, 80) for i in range(8)]
        seq, sep = build_example(vocab.encode_conditioning(comping, 0.0, 2.0), durations.encode_lead(lead), 512, 512)
        sequences.append(seq)
        seps.append(sep)
    return WindowSet.from_sequences(sequences, np.asarray(seps, dtype=np.int32))


def tiny_model() -> torch.nn.Module:
    return build_model(ModelSettings.from_config({"n_layer": 1, "n_embd": 32, "n_head": 2, "intermediate_size": 64}),
                       seed=0, data={"vocabulary": "duration"})


def train(model: torch.nn.Module, ws: WindowSet, steps: int) -> torch.nn.Module:
    """``steps`` AdamW steps on the lead loss, batches of 16 in turn."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(steps):
        start = step * 16 % len(ws)
        loss, count = lead_loss_sum(model, collate(ws, list(range(start, start + 16))))
        opt.zero_grad()
        (loss / count).backward()
        opt.step()
    return model.eval()
