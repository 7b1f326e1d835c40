"""Training throughput: tokens/s, achieved FLOP/s vs this machine's matmul peak, batching strategies.

Everything is measured in the same run on the same model and windows:
  * peak: a large torch.matmul (fp32 on CPU, bf16 on CUDA), FLOP/s = 2 n^3 / t
  * training steps (forward + backward + AdamW) with three batchings of the same windows:
      bucketed  – jazz_solo.training.batching (length-sorted chunks, padded to the batch's longest)
      naive     – random batches padded to max_sequence (the usual fixed-shape loader)
      packed    – windows concatenated into rows of max_sequence, a block-diagonal causal mask
                  (padding-free; SDPA then attends over the whole row)
  useful tokens/s counts real (non-PAD) tokens; model FLOPs per token = 6 N + 6 n_layer d L
  (N = parameters in matmuls incl. the tied head, L = mean real context length).

Usage: python bench/bench_train.py [--data results/data/vocabulary~duration/sequence~windowed/split_pitch~60/corpus_train.npz]
       [--layers 2 --embd 128 --heads 4] [--batch 16] [--steps 8] [--warm-pass]
Without --data the windows have the length distribution of the dev data (median ~250 tokens).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jazz_solo.data import tokens  # noqa: E402
from jazz_solo.training.batching import IGNORE, collate, epoch_batches  # noqa: E402
from jazz_solo.training.nll import autocast, lead_loss_sum  # noqa: E402
from jazz_solo.training.model import build_model, pick_device  # noqa: E402
from jazz_solo.settings import ModelSettings  # noqa: E402
from jazz_solo.data.windows import WindowSet  # noqa: E402


def matmul_peak(device: torch.device, n: int) -> float:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def synthetic_windows(n: int, max_len: int, seed: int = 0) -> WindowSet:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(250), 0.45, n), 24, max_len).astype(int)
    seqs, seps = [], []
    for length in lengths:
        seq = rng.integers(0, tokens.EOS, length)
        sep = int(length * 0.45)
        seq[0], seq[sep], seq[-1] = tokens.BOS, tokens.SEP, tokens.EOS
        seqs.append(seq)
        seps.append(sep)
    return WindowSet.from_sequences(seqs, seps)


def packed_batches(ws: WindowSet, order: np.ndarray, batch: int, width: int):
    """Greedy packing of whole windows into rows of ``width``; block-diagonal causal masks."""
    rows, row, used = [], [], 0
    for i in order:
        n = len(ws[i])
        if used + n > width and row:
            rows.append(row)
            row, used = [], 0
        row.append(i)
        used += n
    rows.append(row)
    out = []
    for r0 in range(0, len(rows), batch):
        group = rows[r0 : r0 + batch]
        ids = torch.full((len(group), width), tokens.PAD, dtype=torch.long)
        labels = torch.full((len(group), width), IGNORE, dtype=torch.long)
        mask = torch.zeros(len(group), 1, width, width, dtype=torch.bool)
        pos = torch.zeros(len(group), width, dtype=torch.long)
        for g, row in enumerate(group):
            start = 0
            for i in row:
                seq, n = torch.as_tensor(ws[i].astype(np.int64)), len(ws[i])
                ids[g, start : start + n] = seq
                labels[g, start + int(ws.sep_pos[i]) + 1 : start + n] = seq[int(ws.sep_pos[i]) + 1 :]
                mask[g, 0, start : start + n, start : start + n] = torch.ones(n, n, dtype=torch.bool).tril()
                pos[g, start : start + n] = torch.arange(n)
                start += n
            mask[g, 0, start:, start:] = torch.eye(width - start, dtype=torch.bool)  # PAD rows: no NaN
        out.append((ids, labels, mask, pos))
    return out


def packed_loss(model, ids, labels, mask, pos, device):
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                   use_cache=False).logits
    targets = labels[:, 1:].to(device)
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum"), int((targets != IGNORE).sum())


def time_steps(model, opt, device, steps_fn, n_steps: int, warm_pass: bool = False) -> tuple[float, int, int]:
    """Seconds, real tokens and lead targets over ``n_steps`` steps, after one warm-up step, or with
    ``warm_pass`` after the same steps once untimed: on a GPU a batch shape's first step costs more
    (allocator, kernel choice), which a fixed-shape batching pays once and a variable one every step."""
    # (step, timed): one untimed step 0 then steps 1..n, or steps 0..n-1 untimed then timed again
    schedule = ([(k, False) for k in range(n_steps)] + [(k, True) for k in range(n_steps)] if warm_pass
                else [(k, k > 0) for k in range(n_steps + 1)])
    total_t, total_tok, total_tgt = 0.0, 0, 0
    for k, timed in schedule:
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device):
            loss, n_tgt, n_tok = steps_fn(k)
        (loss / max(n_tgt, 1)).backward()
        opt.step()
        sync(device)
        if timed:
            total_t += time.perf_counter() - t0
            total_tok += n_tok
            total_tgt += n_tgt
    return total_t, total_tok, total_tgt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="a WindowSet .npz (default: synthetic windows)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warm-pass", action="store_true",
                    help="run each batching's steps once untimed first (GPU: every batch shape seen before timing)")
    ap.add_argument("--max-seq", type=int, default=512)
    ap.add_argument("--matmul-n", type=int, default=0, help="peak matmul size (default 2048 CPU, 8192 GPU)")
    args = ap.parse_args()

    device = pick_device()
    torch.manual_seed(0)
    ws = WindowSet.load(args.data) if args.data else synthetic_windows(4000, args.max_seq)
    cfg = {"n_layer": args.layers, "n_embd": args.embd, "n_head": args.heads, "intermediate_size": 3 * args.embd}
    model = build_model(ModelSettings.from_config(cfg), seed=0).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    n_matmul = sum(p.numel() for n, p in model.named_parameters() if p.ndim == 2)  # tied head counted once
    lengths = ws.lengths()
    print(f"device {device} ({torch.get_num_threads()} threads), model {args.layers}x{args.embd}, "
          f"{sum(p.numel() for p in model.parameters()):,} params, {len(ws)} windows "
          f"(median length {int(np.median(lengths))}), batch {args.batch}")

    peak = matmul_peak(device, args.matmul_n or (8192 if device.type == "cuda" else 2048))
    print(f"matmul peak: {peak / 1e9:,.1f} GFLOP/s")

    order = np.random.default_rng(0).permutation(len(ws))
    bucketed = epoch_batches(lengths, args.batch, seed=0, epoch=0)
    naive = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
    # Packing fits ~max_seq/median windows per row: give it the same real tokens per step.
    packed = packed_batches(ws, order, max(1, args.batch * int(np.median(lengths)) // args.max_seq), args.max_seq)

    def plain(batches, pad_to=None):
        def step(k):
            b = collate(ws, batches[k % len(batches)], pad_to=pad_to).to(device)
            loss, n = lead_loss_sum(model, b)
            return loss, n, b.n_tokens
        return step

    def pack(k):
        ids, labels, mask, pos = packed[k % len(packed)]
        loss, n = packed_loss(model, ids, labels, mask, pos, device)
        return loss, n, int((ids != tokens.PAD).sum())

    results = {}
    for name, fn in [("bucketed", plain(bucketed)), ("naive (pad to max_sequence)", plain(naive, args.max_seq)),
                     ("random, pad to batch max", plain(naive)), ("packed (block mask)", pack)]:
        t, tok, tgt = time_steps(model, opt, device, fn, args.steps, args.warm_pass)
        tok_s = tok / t
        ctx = float(np.mean(lengths))
        flops = (6 * n_matmul + 6 * args.layers * args.embd * ctx) * tok_s
        results[name] = tok_s
        print(f"{name:30s} {tok_s:10,.0f} useful tokens/s  {tgt / t:10,.0f} lead targets/s  "
              f"{flops / 1e9:8.2f} GFLOP/s = {flops / peak:6.1%} of matmul peak")
    base = results["naive (pad to max_sequence)"]
    for name, v in results.items():
        print(f"ratio {name:30s} / naive: {v / base:5.2f}x")


if __name__ == "__main__":
    main()
