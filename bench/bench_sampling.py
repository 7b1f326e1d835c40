"""Nucleus (top_p) for the generation default, chosen on artists outside bench_quality's targets.

    nice python bench/bench_sampling.py                  # ~8 min with bench_vocabulary's base and adapters cached
    nice python bench/bench_sampling.py --top-p 0.9 0.95 0.98 1.0 --pieces 4

For each of bench_vocabulary's target artists (never seen by the base; neither bench_quality's choose
nor its report targets, so choosing here leaves both clean), solos of the base and of the artist's
adapter (config.yaml's recipe, bench_vocabulary's cache) over ``--excerpts`` 32-s excerpts of comping
of each of the first ``--pieces`` test pieces, ``--samples`` each, at every ``--top-p``; printed per
row: realism_distance against the artist's reference (non-test pieces cut the same way; with the
register metric pitch_mean), its difference from the first top_p with a 95 % interval over excerpts
(paired: the same comping and seeds), mean pitch, pitch range, harmonic-fit gain, notes held > 4 s,
beside the real right hand over the same comping.

Why: nucleus sampling cuts the rare end of every event distribution, and the rare pitches are the
high ones: at top_p 0.95 the adapters played 1-2 semitones below their artists and with a narrower
range; top_p 1 restores the register and overshoots the range (README "Quality benchmark").
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_quality import excerpt_interval, real_rows, row_stats, scored, train_index  # noqa: E402
from bench.bench_vocabulary import TARGETS  # noqa: E402
from bench.devdata import (DEV, EXCERPT_SECONDS as SECONDS, adapter_for, base_dir, piece_excerpts,  # noqa: E402
                           positive_int, read_pieces)
from jazz_solo.config import PROJECT_ROOT, load_config  # noqa: E402
from jazz_solo.data.windows import excerpt  # noqa: E402
from jazz_solo.evaluation import scoring  # noqa: E402
from jazz_solo.generation.generate import GenSettings, conditioning_part, generate_piece  # noqa: E402
from jazz_solo.generation.sampling import sample_seed  # noqa: E402
from jazz_solo.training.model import load_base, load_for_inference  # noqa: E402


def solos(model: torch.nn.Module, tests: list[dict[str, str]], settings: GenSettings, samples: int, excerpts: int,
          gen_seed: int, thr: float, index: Any) -> list[dict[str, Any]]:
    """Scored solos over each test piece's excerpts, ``samples`` per excerpt (same seeds for every setting)."""
    rows = []
    for k, p in enumerate(tests):
        notes, starts = piece_excerpts(p["path"], excerpts)
        for j, start in enumerate(starts):
            cond, seconds = conditioning_part(excerpt(notes, start, SECONDS), settings.split_pitch, SECONDS)
            seeds = [sample_seed(gen_seed, k * excerpts + j, s) for s in range(samples)]
            res = generate_piece(model, cond, seconds, settings, seeds)
            rows += [scored(s, cond, thr, index, f"{p['path']}@{start:.2f}") for s in res.solos]
    return rows


def realism_gap(reference: dict[str, Any]) -> Callable[[dict[str, list[dict[str, Any]]]], float]:
    """realism of row set "a" minus that of "b" (for :func:`excerpt_interval`)."""
    return lambda d: row_stats(d["a"], reference)["realism"] - row_stats(d["b"], reference)["realism"]


def line(name: str, rows: list[dict[str, Any]], reference: dict[str, Any], delta: str = "") -> str:
    r, s = row_stats(rows, reference), scoring.summarize(rows)
    return (f"  | {name:20s} | {r['realism']:7.3f} | {delta:>24s} | {r['pitch_mean']:5.1f} | {s['avg_pitch_range']:5.1f} "
            f"| {r['fit_gain']:8.3f} | {100 * s['avg_held_share']:6.2f} | {r['notes']:5.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEV)
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "bench_vocabulary",
                    help="bench_vocabulary's output (its pieces.tsv, duration base and adapters)")
    ap.add_argument("--top-p", type=float, nargs="+", default=[0.95, 0.98, 1.0])
    ap.add_argument("--pieces", type=positive_int, default=8, help="test pieces per artist")
    ap.add_argument("--excerpts", type=positive_int, default=3)
    ap.add_argument("--samples", type=positive_int, default=3, help="samples per excerpt")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"skipped: dev data not found at {args.data}")
        return 0
    data_dir = args.out / "duration"
    model_dir = base_dir(data_dir)
    if not (model_dir / "config.json").is_file():
        print(f"no base at {model_dir}: run `python bench/bench_vocabulary.py --formats duration` first", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    config = load_config()
    split, thr = int(config["data"]["split_pitch"]), float(config["evaluate"]["dead_air_threshold_ms"])
    pieces = read_pieces(args.out / "pieces.tsv")
    artist_of = {p["piece_id"]: p["artist"] for p in pieces}
    settings = GenSettings.from_config({**config, "data": {**config["data"], "vocabulary": "duration",
                                                           "sequence": "windowed"}})
    base = load_base(model_dir)
    print(f"base {model_dir}; top_p {args.top_p}; {args.pieces} pieces x {args.excerpts} excerpts x {args.samples} samples")
    for artist in TARGETS:
        rows = [p for p in pieces if p["artist"] == artist]
        index = train_index(rows, split)
        reference = scoring.reference_stats(real_rows([p["path"] for p in rows if p["split"] != "test"], split, thr,
                                                      index, args.excerpts))
        tests = sorted((p for p in rows if p["split"] == "test"), key=lambda p: p["piece_id"])[: args.pieces]
        adapter = adapter_for(model_dir, data_dir, artist_of, artist, dict(config["lora"]), config["seed"])
        print(f"\n{artist}: reference {reference['count']} excerpts")
        print(f"  | {'solos':20s} | {'realism':>7s} | {'vs first top_p [95 %]':>24s} | {'pitch':>5s} | {'range':>5s} "
              f"| {'fit gain':>8s} | {'held %':>6s} | {'notes':>5s} |")
        print(line("real, same comping", real_rows([p["path"] for p in tests], split, thr, index, args.excerpts), reference))
        for name, model in (("base", base), ("adapter", load_for_inference(adapter, device="cpu"))):
            by_p = {tp: solos(model, tests, replace(settings, top_p=tp), args.samples, args.excerpts,
                              config["generate"]["seed"], thr, index) for tp in args.top_p}
            first = args.top_p[0]
            for tp, rs in by_p.items():
                delta = ""
                if tp != first:
                    iv = excerpt_interval({"a": rs, "b": by_p[first]}, realism_gap(reference), args.seed)
                    delta = f"{iv['value']:+.3f} [{iv['lo']:+.3f}, {iv['hi']:+.3f}]"
                print(line(f"{name} top_p {tp}", rs, reference, delta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
