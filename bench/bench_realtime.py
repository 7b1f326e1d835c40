"""Simulated real-time session: conditioning chunks arrive on the wall clock, the server answers each.

Chunk k (``--chunk-seconds``, default half a window) "arrives" when its last moment has been played
(t0 + (k+1)*chunk). Its solo is played during the next chunk (one chunk behind, as the live-MIDI mode
does), so its deadline is arrival + chunk: a later answer is a deadline miss. Reports time to first
note (arrival of chunk 0 -> first NOTE_ON sampled), per-chunk latency p50/p95/max and as a fraction
of the chunk (the real-time factor; the baseline is the chunk itself), misses, and RSS at start and end.

Model: ``--bundle`` / ``--adapter`` when given, else a random model of config.yaml's (demo) size
with a LoRA adapter (speed does not depend on the weights). Conditioning: the left hand of real
PiJAMA pieces (../shared/data) looped, else a synthetic comping part.

    python bench/bench_realtime.py               # 1 minute
    python bench/bench_realtime.py --minutes 10  # the full check
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jazz_solo import tokens as T  # noqa: E402
from jazz_solo.serve import Engine, StreamSession  # noqa: E402
from jazz_solo.tokens import Note  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pijama_studio"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def demo_adapter(root: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    from jazz_solo.config import load_config
    from jazz_solo.lora import save_adapter
    from jazz_solo.model import build_model, save_base

    cfg = load_config()
    base = build_model(cfg["model"], seed=0)
    save_base(base, root / "base")
    lora = cfg["lora"]
    peft_cfg = LoraConfig(r=int(lora["r"]), lora_alpha=int(lora["alpha"]), target_modules=list(lora["target_modules"]),
                          init_lora_weights=False)
    return save_adapter(get_peft_model(base, peft_cfg), root / "adapter", root / "base")


def conditioning(split_pitch: int, seconds: float) -> tuple[list[Note], str]:
    """Left-hand notes covering ``seconds`` (pieces appended one after another)."""
    from jazz_solo.midi_io import MidiError, load_notes, split_roles

    out: list[Note] = []
    used = 0
    if DATA.is_dir():
        offset = 0.0
        for path in sorted(DATA.rglob("*.midi")):
            if offset >= seconds:
                break
            try:
                cond, _ = split_roles(load_notes(path), split_pitch)
            except MidiError:
                continue
            if not cond:
                continue
            out += [Note(n.start + offset, n.end + offset, n.pitch, n.velocity) for n in cond]
            offset += max(n.end for n in cond) + 1.0
            used += 1
        if out:
            return out, f"{used} PiJAMA pieces (left hand)"
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import comping_and_lead

    return split_roles(comping_and_lead(seconds), split_pitch)[0], "synthetic comping"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--chunk-seconds", type=float, default=None, help="default: half a window")
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--continuity-seconds", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rss0 = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        if args.bundle or args.adapter:
            engine = Engine.load(args.bundle, args.adapter)
        else:
            engine = Engine.load(adapter_dir=demo_adapter(Path(tmp)))
    chunk = float(args.chunk_seconds or engine.settings.window_seconds / 2)
    total = args.minutes * 60.0
    cond, source = conditioning(engine.split_pitch, total)
    n_chunks = int(total // chunk)
    print(f"model: {engine.info['parameters']:,} parameters ({engine.source}); conditioning: {source}")
    print(f"session: {n_chunks} chunks of {chunk:.1f} s = {n_chunks * chunk / 60:.1f} min, "
          f"continuity_seconds={args.continuity_seconds}, {args.threads} thread(s)")
    session = StreamSession(engine, {"continuity_seconds": args.continuity_seconds}, seed=0)
    first_note: list[float] = []

    def on_step(rows: torch.Tensor, toks: torch.Tensor) -> None:
        if not first_note and bool((toks < T.NOTE_OFF).any()):
            first_note.append(time.perf_counter())

    # Warm-up chunk outside the clock (a server loads and warms up before the set starts).
    StreamSession(engine, seed=1).feed([], chunk)
    rss_start = rss_mb()
    latencies, notes_out, misses, late_start = [], 0, 0, 0.0
    t0 = time.perf_counter()
    for k in range(n_chunks):
        lo, hi = k * chunk, (k + 1) * chunk
        notes = [Note(n.start - lo, n.end - lo, n.pitch, n.velocity) for n in cond if lo <= n.start < hi]
        arrival = t0 + hi
        wait = arrival - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            late_start = max(late_start, -wait)  # the previous chunk overran into this one
        start = time.perf_counter()
        out = session.feed(notes, chunk, callback=on_step if k == 0 else None)
        done = time.perf_counter()
        latencies.append(done - arrival)
        misses += int(done > arrival + chunk)
        notes_out += len(out)
        if k == 0:
            ttfn = (first_note[0] - start) if first_note else float("nan")
    rss_end = rss_mb()
    lat = np.array(latencies) * 1000
    print(f"time to first note: {ttfn * 1000:.1f} ms (first chunk)")
    print(f"per-chunk latency ms: p50 {np.percentile(lat, 50):.1f}  p95 {np.percentile(lat, 95):.1f}  "
          f"max {lat.max():.1f}  (chunk {chunk * 1000:.0f} ms; p95/chunk = {np.percentile(lat, 95) / (chunk * 1000):.3f})")
    print(f"deadline misses: {misses} / {n_chunks}; worst start delay {late_start * 1000:.1f} ms; solo notes {notes_out}, "
          f"sampled tokens {session.gen.sampled[0]} ({session.gen.sampled[0] / (lat.sum() / 1000):.0f} tok/s while busy)")
    print(f"RSS MB: before load {rss0:.0f}, session start {rss_start:.0f}, end {rss_end:.0f} "
          f"(growth {rss_end - rss_start:+.1f})")


if __name__ == "__main__":
    main()
