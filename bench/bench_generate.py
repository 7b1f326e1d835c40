"""Generation speed: KV cache vs full re-forward, real-time factor, time to first note.

    python bench/bench_generate.py                 # demo + pod-default sizes, 1 intra-op thread
    python bench/bench_generate.py --threads 2     # same with 2 threads (compare on an idle box)
    python bench/bench_generate.py --adapter results/train/.../adapter   # also a trained model

For each model size (config.yaml's model section = "demo"; 6 x 512, 8 heads, 2048 = "pod"), with a
random model of that size (speed does not depend on the weights), all in one run:

* tokens/s generating 512 new tokens after a ~110-token conditioning prompt, batch 1, through the
  real per-token loop (grammar mask + top-p + per-sample generator), with the KV cache as generation
  uses it (:func:`jazz_solo.generation.kv_decode.make_decoder`), with the transformers forward + DynamicCache
  (for reference), and with a full forward of the whole sequence per token (the first version's
  method). EOS is masked so every run makes exactly 512 tokens. Goal: cached >= 10x re-forward.
* real-time factor = seconds of music / seconds of compute. A random model's timing is meaningless
  (it jumps through a window in a few large time shifts), so the lead tokens are those of REAL
  music: the real lead of every 8-s window of dev-data pieces (or of a synthetic two-hand piece
  without ../shared/data) is forced through :func:`jazz_solo.generation.generate.generate_window`, which does
  all the work of sampling (prefill per window, mask, top-p, draw) but records the real token.
  Music seconds = the windows' length. Batch 1 (one live solo) and batch num_samples. Goal >= 5.
  With --adapter (or a trained adapter found under results/train), the trained model's own
  sampled solos are timed too (generate_piece on a test piece).
* time to first note: prompt prefill to the first sampled NOTE_ON (median of 15 windows), batch 1.
  Goal <= 120 ms for the demo size.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

from jazz_solo.data import tokens as T
from jazz_solo.data import windows
from jazz_solo.config import PROJECT_ROOT, load_config
from jazz_solo.generation.generate import GenSettings, generate_piece, generate_window
from jazz_solo.generation.kv_decode import CachedDecoder, make_decoder
from jazz_solo.data.midi_io import MidiError, load_notes, split_roles
from jazz_solo.training.model import build_model, load_for_inference
from jazz_solo.generation.sampling import make_generators, process_logits, sample
from jazz_solo.settings import ModelSettings

DEV_DATA = PROJECT_ROOT.parent / "shared" / "data" / "pijama_studio"
POD = {"n_layer": 6, "n_embd": 512, "n_head": 8, "intermediate_size": 2048}


class FirstNote(Exception):
    """Raised from the step callback to stop a window at its first NOTE_ON."""


def synthetic_piece(seconds: float = 64.0) -> list[T.Note]:
    """Left-hand chords each beat, right-hand eighths (120 bpm): a stand-in without dev data."""
    import random

    rng, notes, t = random.Random(0), [], 0.0
    chords = [(48, 52, 55), (50, 53, 57), (43, 47, 50), (45, 48, 52)]
    while t < seconds:
        notes += [T.Note(t, t + 0.45, p, 60 + rng.randrange(20)) for p in chords[int(t / 2) % 4]]
        for half in (0.0, 0.25):
            notes.append(T.Note(t + half, t + half + 0.2, rng.choice([64, 65, 67, 69, 71, 72, 74]), 80))
        t += 0.5
    return notes


def real_windows(data: Path, files: int, split_pitch: int, seconds: float, encode_lead=None) -> tuple[list, str]:
    """(cond tokens, lead tokens) of consecutive windows (hop = window) of a few dev pieces, the lead
    in ``encode_lead``'s vocabulary (default: performance events)."""
    paths = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".mid", ".midi")) if data.is_dir() else []
    pieces, source = [], f"{len(paths[:: max(1, len(paths) // files)][:files])} dev-data pieces"
    for path in paths[:: max(1, len(paths) // files)][:files]:
        try:
            pieces.append(load_notes(path))
        except MidiError:
            continue
    if not pieces:
        pieces, source = [synthetic_piece()], "a synthetic two-hand piece (no dev data)"
    out = []
    for notes in pieces:
        cond, lead = split_roles(notes, split_pitch)
        end = min(max(n.end for n in notes), 64.0)  # the first minute of each piece
        for start in windows.window_starts(end, seconds, seconds):
            lead_toks = windows.encode_window(lead, start, seconds, *([encode_lead] if encode_lead else []))
            out.append((windows.encode_window(cond, start, seconds), lead_toks))
    return out, source


def typical_prompt_cond(pairs: list, size: int = 110) -> list[int]:
    """A real conditioning window of about ``size`` tokens (the median window at split 60)."""
    return min((c for c, _ in pairs), key=lambda c: abs(len(c) - size))[:size]


def loop(model, prompt: list[int], new_tokens: int, mode: str, grammar, seed: int = 0) -> float:
    """Seconds to make ``new_tokens`` tokens (batch 1) through the sampling loop. ``mode``: "fused"
    (what generation uses), "hf" (transformers forward + DynamicCache) or "none" (the first version:
    the whole sequence re-forwarded for every token, full logits, no cache)."""
    state, gens, seq = grammar(1, 10**9), make_generators([seed]), list(prompt)
    decoder = {"fused": make_decoder, "hf": CachedDecoder, "none": CachedDecoder}[mode](model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = decoder.prefill(prompt, 1) if mode != "none" else None
        for _ in range(new_tokens):
            if mode == "none":
                logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[:, -1].float()
            allowed = state.allowed()
            allowed[:, T.EOS] = False  # exactly new_tokens tokens in every run
            tok = state.advance(sample(process_logits(logits, allowed, 1.0, 0, 0.95), gens))
            seq.append(int(tok))
            if mode != "none":
                logits = decoder.step(tok)
    return time.perf_counter() - t0


def forced_rtf(model, pairs: list, settings: GenSettings, batch: int) -> tuple[float, int]:
    """Real-time factor with real lead tokens forced through generate_window (see module doc)."""
    music = compute = 0.0
    steps = 0
    for cond, lead in pairs:
        t0 = time.perf_counter()
        out = generate_window(model, cond, settings, make_generators(range(batch)), [lead] * batch)
        compute += time.perf_counter() - t0
        music += settings.window_seconds
        steps += len(out.lead[0])
    return music * batch / compute, steps


def first_note_ms(model, pairs: list, settings: GenSettings, runs: int = 15) -> float:
    """Median ms from the start of a window (prefill) to its first sampled NOTE_ON, batch 1."""
    times = []
    conds = [c for c, _ in pairs][:runs]
    for i, cond in enumerate(conds):
        t0 = time.perf_counter()

        def on_step(rows, toks):
            if bool((toks < T.NOTE_OFF).any()):
                raise FirstNote

        try:
            generate_window(model, cond, settings, make_generators([i]), callback=on_step)
        except FirstNote:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times) if times else float("nan")


def find_adapter() -> Path | None:
    found = sorted((PROJECT_ROOT / "results" / "train").glob("**/adapter/adapter_config.json"))
    return found[0].parent if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--sizes", nargs="+", default=["demo", "pod"], choices=["demo", "pod"])
    parser.add_argument("--files", type=int, default=4, help="dev-data pieces for the real-time factor")
    parser.add_argument("--data", type=Path, default=DEV_DATA)
    parser.add_argument("--adapter", type=Path, default=None, help="a trained adapter (default: first under results/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config()
    settings = GenSettings.from_config(config)
    batch = int(config["generate"]["num_samples"])
    pairs, source = real_windows(args.data, args.files, config["data"]["split_pitch"], settings.window_seconds,
                                 settings.vocab.encode_lead)
    cond = typical_prompt_cond(pairs)
    prompt = windows.prompt(cond, settings.primer_max_tokens)
    lead_rate = sum(len(lead) for _, lead in pairs) / (len(pairs) * settings.window_seconds)
    print(f"torch {torch.__version__}, {args.threads} thread(s); {settings.vocabulary} vocabulary; prompt {len(prompt)} tokens; real windows: "
          f"{len(pairs)} x {settings.window_seconds:g} s from {source}, {lead_rate:.1f} lead tokens per music second")
    sizes = {"demo": {k: config["model"][k] for k in ("n_layer", "n_embd", "n_head", "intermediate_size")}, "pod": POD}
    ok = True
    for name in args.sizes:
        model = build_model(ModelSettings.from_config(sizes[name]), seed=0, data=config["data"]).eval()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        grammar = settings.vocab.grammar
        loop(model, prompt, 16, "fused", grammar)  # warm-up (allocator, kernels)
        cached = loop(model, prompt, args.new_tokens, "fused", grammar)
        hf = loop(model, prompt, args.new_tokens, "hf", grammar)
        full = loop(model, prompt, args.new_tokens, "none", grammar)
        rtf1, steps = forced_rtf(model, pairs, settings, 1)
        rtfb, _ = forced_rtf(model, pairs, settings, batch)
        # listening guidance reads every step twice (one batch of twice the rows): its cost, same run
        plain = dataclasses.replace(settings, listening_guidance=0.0)
        rtf_plain = forced_rtf(model, pairs, plain, 1)[0] if settings.listening_guidance else rtf1
        ttfn = first_note_ms(model, pairs, settings)
        speedup = full / cached
        print(f"\n[{name}] {sizes[name]} ({n_params:.2f} M parameters)")
        print(f"  {args.new_tokens} new tokens: KV cache {args.new_tokens / cached:7.1f} tok/s (transformers forward + "
              f"cache: {args.new_tokens / hf:6.1f})   full re-forward {args.new_tokens / full:6.1f} tok/s   "
              f"speed-up {speedup:5.1f}x  (goal >= 10x)")
        print(f"  real-time factor (real lead timing, {steps / len(pairs):.0f} tokens per window): batch 1 {rtf1:6.1f}   "
              f"batch {batch} {rtfb:6.1f} music-s per compute-s" + ("  (goal >= 5)" if name == "demo" else ""))
        print(f"  listening guidance {settings.listening_guidance:g}: batch-1 real-time factor {rtf1:.1f} vs "
              f"{rtf_plain:.1f} without ({rtf_plain / rtf1:.2f}x the compute)")
        print(f"  time to first note (prefill {len(prompt)} tokens -> first NOTE_ON, median): {ttfn:6.1f} ms"
              + ("  (goal <= 120 ms)" if name == "demo" else ""))
        if name == "demo":
            ok &= speedup >= 10 and rtf1 >= 5 and ttfn <= 120
        else:
            ok &= speedup >= 10
    adapter = args.adapter or find_adapter()
    if adapter is not None:
        model = load_for_inference(adapter, device="cpu")
        cond_notes = split_roles(synthetic_piece(32.0), config["data"]["split_pitch"])[0]
        res = generate_piece(model, cond_notes, 32.0, settings, list(range(batch)))
        print(f"\n[trained adapter {adapter}] {batch} sampled solos of 32 s in {res.wall_s:.2f} s: real-time factor "
              f"{32.0 * batch / res.wall_s:.1f}, {sum(res.new_tokens) / res.wall_s:.0f} tok/s")
    else:
        print("\n(no trained adapter under results/train: the real-time factor above uses real lead timing)")
    print("\nall goals met" if ok else "\nsome goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
