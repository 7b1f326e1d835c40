"""The CUDA path (bf16 autocast in training, the model on the GPU), on a machine with a CUDA GPU.

Skipped, with the reason, where torch sees none; bench/gpu_check.py runs these first on a GPU pod.
"""
from __future__ import annotations

import pytest
import torch

from jazz_solo.training.nll import autocast
from jazz_solo.training.model import build_model, pick_device
from jazz_solo.settings import ModelSettings

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch"),
]
SMALL = ModelSettings.from_config({"n_layer": 2, "n_embd": 64, "n_head": 4, "intermediate_size": 128})


def batch(vocab: int, rows: int = 4, length: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, min(vocab, 256), (rows, length), generator=generator)


def test_pick_device_takes_the_gpu():
    assert pick_device().type == "cuda"


def test_bf16_autocast_forward_matches_fp32_on_cpu():
    model = build_model(SMALL, seed=0).eval()
    ids = batch(model.config.vocab_size)
    with torch.no_grad():
        cpu = model(input_ids=ids).logits.float()
        gpu_model = model.to("cuda")
        with autocast(torch.device("cuda")):
            gpu = gpu_model(input_ids=ids.to("cuda")).logits
    assert gpu.dtype == torch.bfloat16  # autocast really ran the matmuls in bf16
    assert torch.isfinite(gpu.float()).all()
    # bf16 keeps ~3 significant digits: the distributions agree, not the bits
    cpu_p, gpu_p = cpu.softmax(-1), gpu.float().cpu().softmax(-1)
    assert (cpu_p - gpu_p).abs().max().item() < 0.05
    assert (cpu.argmax(-1) == gpu.float().cpu().argmax(-1)).float().mean().item() > 0.9


def test_bf16_training_steps_lower_the_loss_on_the_gpu():
    device = torch.device("cuda")
    model = build_model(SMALL, seed=0).to(device).train()
    ids = batch(model.config.vocab_size).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        with autocast(device):
            loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] * 0.8  # one fixed batch: a working step memorises it
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32 (no loss scaling)
