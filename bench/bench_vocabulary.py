"""Format comparison on the dev data, side by side in one run, on the same pipeline code and time grid:
vocabularies (performance: NOTE_ON/NOTE_OFF vs duration: NOTE_ON DURATION lead events) and sequence
formats (windowed: the window's comping, then its lead; causal: both hands in time order). A format is
``VOCABULARY`` or ``VOCABULARY/SEQUENCE`` (``duration/causal``); the sequence defaults to windowed.

    python bench/bench_vocabulary.py                       # ~70 min on 2 cores (three 2,000-step bases)
    python bench/bench_vocabulary.py --formats duration duration/causal   # windowed vs causal
    python bench/bench_vocabulary.py --steps 100 --pieces 1  # a quick smoke run

Data: a fixed corpus of dev artists (the base's pretraining data) and target artists the base never
sees (their pieces split 50 / 20 / 30 % into adapter-train / adapter-val / test by a seeded hash). For each vocabulary, one base of the same size is pretrained
for the same number of steps on the same corpus windows, then:

* NLL per lead note (not per token: the vocabularies spend different numbers of tokens on a
  note) on every window of each target artist's test pieces, and the listening gain: how much worse
  that NLL gets with the comping moved a semitone (nll.listening_gain; ~0: deaf to it);
* lead tokens per second of music (the target pieces' right hands, whole pieces);
* solos generated over each target's first ``--pieces`` test pieces (``--excerpts`` 32-s excerpts of
  left hand spread over each piece, ``--samples`` samples each, config.yaml's generation defaults)
  against the real right hand of the same excerpts (not the openings: a jazz piece opens with its
  head, whose right hand is not the piece's): share of notes held > 4 s, share at or below the split pitch or off the piano,
  polyphony, pitch range, median and IQR of ln(note length), notes per second, harmonic-fit gain
  (+-1 s, against the tritone-shifted comping), the same against the comping a semitone up and down
  (metrics.semitone_fit_gain: jazz harmony shares much with its tritone) and onset fit (+-100 ms); notes held > 4 s also as
  counts, beside the same excerpts of all the artist's pieces (mid-piece they are rare: a test set's
  excerpts may hold one, and a share of one note is no estimate);
* generation speed: sampled tokens/s and notes/s (batch of ``--samples``, 1 thread);
* with ``--lora-steps N`` (default config.yaml's; 0 = off): per target, a LoRA adapter (config.yaml's ``lora:``
  recipe) trained on half of the artist's pieces and early-stopped on a fifth, so the same test
  pieces are also measured with the adapter (NLL per note on the test windows, and solos).

Prints one table per target and writes everything to ``--out``/vocabulary_comparison.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jazz_solo.data import causal_sequence, vocab  # noqa: E402
from jazz_solo.evaluation import metrics  # noqa: E402
from jazz_solo.config import PROJECT_ROOT, load_config  # noqa: E402
from bench.devdata import (BASE_STEPS, CORPUS, DEV, EXCERPT_SECONDS as SECONDS, MODEL, adapter_for,  # noqa: E402
                           artist_windows, base_dir, ingest_dev, piece_excerpts, positive_int, pretrain_base)
from jazz_solo.data.dataset import build_dataset  # noqa: E402
from jazz_solo.evaluation.scoring import cap  # noqa: E402
from jazz_solo.training.nll import listening_gain, nll_totals  # noqa: E402
from jazz_solo.generation.generate import GenSettings, conditioning_part, generate_piece  # noqa: E402
from jazz_solo.data.midi_io import load_notes, split_roles  # noqa: E402
from jazz_solo.training.model import load_base, load_for_inference  # noqa: E402
from jazz_solo.generation.sampling import sample_seed  # noqa: E402
from jazz_solo.settings import DataSettings  # noqa: E402
from jazz_solo.data.windows import WindowSet, excerpt  # noqa: E402

TARGETS = ["Cedar Walton", "Clare Fischer"]


def duration_stats(notes, cond, split_pitch: int, seconds: float) -> dict[str, float]:
    return {
        "notes": len(notes),
        "notes_per_s": len(notes) / seconds if seconds else 0.0,
        "held_gt_4s": metrics.held_share(notes),
        "below_split_or_off_piano": (sum(n.pitch <= split_pitch or not 21 <= n.pitch <= 108 for n in notes)
                                     / len(notes) if notes else 0.0),
        "polyphony": metrics.polyphony(notes),
        "pitch_range": metrics.pitch_range(notes),
        "pitch_mean": metrics.pitch_mean(notes),
        "log_dur_median": metrics.log_duration_median(notes),
        "log_dur_iqr": metrics.log_duration_iqr(notes),
        "harmonic_fit_gain": metrics.harmonic_fit_gain(notes, cond),
        "semitone_fit_gain": metrics.semitone_fit_gain(notes, cond),
        "onset_fit": metrics.onset_fit(notes, cond),
    }


def whole_piece_held(leads: list[list], ending_seconds: float = 10.0) -> dict[str, int]:
    """Real right-hand notes held > 4 s over whole pieces, and how many start in a piece's last
    ``ending_seconds``: a window model trains on whole pieces, endings and heads included, while the
    excerpts it is compared on are mid-piece (Clare Fischer: 0.40 % whole, half in endings; 0.03 % mid-piece)."""
    held = notes = ending = 0
    for lead in leads:
        if not lead:
            continue
        end = max(n.end for n in lead)
        long = [n for n in lead if n.end - n.start > metrics.HELD_SECONDS]
        held, notes, ending = held + len(long), notes + len(lead), ending + sum(n.start > end - ending_seconds for n in long)
    return {"held": held, "notes": notes, "held_in_ending": ending}


def test_excerpts(tests: list[dict[str, str]], count: int) -> list[tuple[list, float]]:
    """(notes of the piece, excerpt start) for ``count`` excerpts spread over each test piece."""
    out = []
    for p in tests:
        notes, starts = piece_excerpts(p["path"], count)
        out += [(notes, start) for start in starts]
    return out


def parse_format(text: str) -> tuple[str, str]:
    """``duration/causal`` -> (vocabulary, sequence); a bare vocabulary is windowed."""
    name, _, sequence = text.partition("/")
    vocab.get(name)
    causal_sequence.check_sequence(sequence or "windowed", name)
    return name, sequence or "windowed"


def stream_tokens(cond, lead, vocabulary, sequence: str) -> int:
    """Tokens the model reads for this music (both hands), whole piece."""
    if sequence == "causal":
        return len(causal_sequence.encode(cond, lead, 0.0, None)[0])
    return len(vocab.encode_conditioning(cond, 0.0, None)) + len(vocabulary.encode_lead(lead, 0.0, None))


def pooled(rows: list[dict[str, float]], notes_key: str = "notes") -> dict[str, float]:
    """Note-weighted means (shares, medians) of per-sample stats."""
    total = sum(r[notes_key] for r in rows) or 1
    return {k: sum(r[k] * r[notes_key] for r in rows) / total for k in rows[0] if k != notes_key} | {
        "notes": sum(r[notes_key] for r in rows)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEV)
    ap.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "bench_vocabulary")
    ap.add_argument("--steps", type=int, default=BASE_STEPS, help="pretraining steps per base")
    ap.add_argument("--pieces", type=positive_int, default=3, help="test pieces per target to generate over")
    ap.add_argument("--excerpts", type=positive_int, default=3,
                    help="32-s excerpts per test piece, spread over it (1: the middle; openings are the head)")
    ap.add_argument("--samples", type=positive_int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: on a busy 2-core box, 2 threads ran 5x slower)")
    ap.add_argument("--formats", nargs="+", default=["performance", "duration", "duration/causal"],
                    help="VOCABULARY or VOCABULARY/SEQUENCE (e.g. duration/causal)")
    ap.add_argument("--lora-steps", type=int, default=None,
                    help="LoRA steps per target (default: config.yaml's lora.max_steps; 0: base only)")
    ap.add_argument("--listening-guidance", type=float, default=None,
                    help="generate.listening_guidance for every solo (default: config.yaml's)")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"skipped: dev data not found at {args.data}")
        return 0
    torch.set_num_threads(args.threads)
    config = load_config()
    if args.listening_guidance is not None:
        config["generate"]["listening_guidance"] = args.listening_guidance
    if args.lora_steps is None:
        args.lora_steps = int(config["lora"]["max_steps"])
    data_cfg = dict(config["data"])
    split = int(data_cfg["split_pitch"])
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # Corpus: 90 % train / 10 % val by the same seeded split for every vocabulary.
    pieces = ingest_dev(args.data, TARGETS, args.out, config["seed"], args.threads)
    artist_of = {p["piece_id"]: p["artist"] for p in pieces}
    print(f"ingest: {len(pieces)} pieces in {time.perf_counter() - t0:.0f} s")

    report: dict = {"model": MODEL, "steps": args.steps, "corpus_artists": CORPUS, "targets": {}, "bases": {},
                    "real_all_pieces": {}, "listening_guidance": {}}
    for name in args.formats:
        vocabulary, sequence = parse_format(name)
        data_dir = args.out / name.replace("/", "-")
        cfg = {**data_cfg, "vocabulary": vocabulary, "sequence": sequence}
        t0 = time.perf_counter()
        summary = build_dataset(pieces, data_dir, DataSettings.from_config(cfg), threads=args.threads)
        t_data = time.perf_counter() - t0
        model_dir = base_dir(data_dir, args.steps)
        if not (model_dir / "config.json").is_file():
            t0 = time.perf_counter()
            fit = pretrain_base(data_dir, config, args.steps, model_dir)
            report["bases"][name] = {"pretrain_s": round(time.perf_counter() - t0, 1), **fit}
        model = load_base(model_dir)
        corpus_val = nll_totals(model, WindowSet.load(data_dir / "corpus_val.npz"), 16)
        report["bases"].setdefault(name, {}).update(corpus_val_per_note=corpus_val["per_note"],
                                                    corpus_val_per_token=corpus_val["per_token"],
                                                    tokenize_s=round(t_data, 1), examples=summary["examples"])
        settings = GenSettings.from_config({**config, "data": cfg})
        report["listening_guidance"][name] = settings.listening_guidance  # "auto" differs by format
        torch.set_num_threads(1)
        lora_cfg = {**config["lora"], "max_steps": args.lora_steps}
        for artist in TARGETS:
            entry = report["targets"].setdefault(artist, {})
            test_windows = artist_windows(data_dir, "test", artist_of, artist)
            nll = nll_totals(model, test_windows, 16)
            models = {"base": model}
            if args.lora_steps:
                torch.set_num_threads(args.threads)
                adapter = adapter_for(model_dir, data_dir, artist_of, artist, lora_cfg, config["seed"])
                models["adapter"] = load_for_inference(adapter, device="cpu")
                torch.set_num_threads(1)
            rows = [p for p in pieces if p["artist"] == artist]
            lead_tokens = all_tokens = music = 0.0
            leads = []  # whole pieces' right hands, read once here
            for p in rows:
                cond, lead = split_roles(load_notes(p["path"]), split)
                leads.append(lead)
                lead_tokens += len(settings.vocab.encode_lead(lead, 0.0, None))
                all_tokens += stream_tokens(cond, lead, settings.vocab, sequence)
                music += float(p["seconds"])
            tests = sorted((p for p in rows if p["split"] == "test"), key=lambda p: p["piece_id"])[: args.pieces]
            # Notes held > 4 s are rare mid-piece (a test set's excerpts may hold 1 or 2): the same
            # excerpts of all the artist's pieces say how rare, with a count worth a share.
            if artist not in report["real_all_pieces"]:
                report["real_all_pieces"][artist] = {"pieces": len(rows), **pooled([
                    duration_stats(cap(split_roles(excerpt(notes, start, SECONDS), split)[1], SECONDS), [], split, SECONDS)
                    for notes, start in test_excerpts(rows, args.excerpts)]),
                    "whole_pieces": whole_piece_held(leads)}
            for kind, m in models.items():
                gen_rows, real_rows, speed = [], [], {"tokens": 0, "notes": 0, "wall": 0.0}
                for k, (notes, start) in enumerate(test_excerpts(tests, args.excerpts)):
                    part = excerpt(notes, start, SECONDS)
                    cond, seconds = conditioning_part(part, split, SECONDS)
                    real = cap(split_roles(part, split)[1], SECONDS)
                    real_rows.append(duration_stats(real, cond, split, seconds))
                    seeds = [sample_seed(config["generate"]["seed"], k, s) for s in range(args.samples)]
                    res = generate_piece(m, cond, seconds, settings, seeds)
                    speed["tokens"] += sum(res.new_tokens)
                    speed["notes"] += sum(len(s) for s in res.solos)
                    speed["wall"] += res.wall_s
                    gen_rows += [duration_stats(s, cond, split, seconds) for s in res.solos]
                key = name if kind == "base" else f"{name} + adapter"
                measured = nll if kind == "base" else nll_totals(m, test_windows, 16)
                listening = listening_gain(m, test_windows, 16, real_per_note=measured["per_note"])
                entry[key] = {
                    "nll_per_note": measured["per_note"], "nll_per_token": measured["per_token"],
                    "listening_gain": listening,
                    "test_notes": measured["notes"], "lead_tokens_per_s_of_music": lead_tokens / music,
                    "tokens_per_s_of_music": all_tokens / music,
                    "generated": pooled(gen_rows), "real": pooled(real_rows),
                    "gen_tokens_per_s": speed["tokens"] / speed["wall"],
                    "gen_notes_per_s": speed["notes"] / speed["wall"],
                }
        torch.set_num_threads(args.threads)
    (args.out / "vocabulary_comparison.json").write_text(json.dumps(report, indent=2) + "\n")
    print_tables(report)
    return 0


def held_count(stats: dict[str, float]) -> str:
    """"k of n (share)" for notes held > 4 s: a share of 1 or 2 notes is no estimate."""
    k = round(stats["held_gt_4s"] * stats["notes"])
    return f"{k} of {stats['notes']} ({stats['held_gt_4s']:.2%})"


def print_tables(report: dict) -> None:
    names = list(next(iter(report["targets"].values())))
    print(f"\nbase {report['model']['n_layer']} x {report['model']['n_embd']}, {report['steps']} steps on "
          f"{len(report['corpus_artists'])} corpus artists")
    for name, b in report["bases"].items():
        print(f"  {name:12s} corpus val NLL {b['corpus_val_per_note']:.3f}/note {b['corpus_val_per_token']:.3f}/token"
              f"  pretrain {b.get('pretrain_s', '-')} s")
    rows = [
        ("test NLL per note", lambda e: e["nll_per_note"], "{:.3f}"),
        ("test NLL per token", lambda e: e["nll_per_token"], "{:.3f}"),
        ("listening gain (nats/note)", lambda e: e.get("listening_gain", float("nan")), "{:.3f}"),
        ("lead tokens / s of music", lambda e: e["lead_tokens_per_s_of_music"], "{:.1f}"),
        ("model tokens / s of music", lambda e: e["tokens_per_s_of_music"], "{:.1f}"),
        ("notes held > 4 s", lambda e: e["generated"]["held_gt_4s"], "{:.2%}"),
        ("notes <= split / off piano", lambda e: e["generated"]["below_split_or_off_piano"], "{:.2%}"),
        ("polyphony", lambda e: e["generated"]["polyphony"], "{:.2f}"),
        ("pitch range", lambda e: e["generated"]["pitch_range"], "{:.1f}"),
        ("mean pitch (register)", lambda e: e["generated"].get("pitch_mean", float("nan")), "{:.1f}"),
        ("median note length (s)", lambda e: math.exp(e["generated"]["log_dur_median"]), "{:.3f}"),
        ("IQR of ln(length)", lambda e: e["generated"]["log_dur_iqr"], "{:.2f}"),
        ("solo notes / s", lambda e: e["generated"]["notes_per_s"], "{:.2f}"),
        ("harmonic-fit gain (+-1 s)", lambda e: e["generated"]["harmonic_fit_gain"], "{:.3f}"),
        ("semitone-fit gain (+-1 s)", lambda e: e["generated"]["semitone_fit_gain"], "{:.3f}"),
        ("onset fit (+-100 ms)", lambda e: e["generated"]["onset_fit"], "{:.3f}"),
        ("generation tokens / s", lambda e: e["gen_tokens_per_s"], "{:.0f}"),
        ("generation notes / s", lambda e: e["gen_notes_per_s"], "{:.0f}"),
    ]
    real_rows = {"notes held > 4 s": "held_gt_4s", "polyphony": "polyphony", "pitch range": "pitch_range",
                 "mean pitch (register)": "pitch_mean",
                 "median note length (s)": "log_dur_median", "IQR of ln(length)": "log_dur_iqr",
                 "solo notes / s": "notes_per_s", "notes <= split / off piano": "below_split_or_off_piano",
                 "harmonic-fit gain (+-1 s)": "harmonic_fit_gain", "semitone-fit gain (+-1 s)": "semitone_fit_gain",
                 "onset fit (+-100 ms)": "onset_fit"}
    for artist, entry in report["targets"].items():
        print(f"\ntarget {artist} (never seen by the base)")
        print(f"| {'':28s} | " + " | ".join(f"{n:>22s}" for n in names) + f" | {'real RH':>12s} |")
        print(f"|{'-' * 30}|" + "|".join("-" * 24 for _ in names) + f"|{'-' * 14}|")
        for label, get, fmt in rows:
            real = ""
            if label in real_rows:
                value = entry[names[0]]["real"][real_rows[label]]
                real = fmt.format(math.exp(value) if label.startswith("median") else value)
            cells = " | ".join(f"{fmt.format(get(entry[n])):>22s}" for n in names)
            print(f"| {label:28s} | {cells} | {real:>12s} |")
        held = ", ".join(f"{n} {held_count(entry[n]['generated'])}" for n in names)
        every = report["real_all_pieces"].get(artist)
        print(f"notes held > 4 s (count of notes): {held}; real RH {held_count(entry[names[0]]['real'])}"
              + (f"; the same excerpts of all {every['pieces']} of the artist's pieces {held_count(every)}" if every else ""))
        whole = (every or {}).get("whole_pieces")
        if whole:
            print(f"  whole pieces (what the model trains on): {whole['held']} of {whole['notes']} "
                  f"({whole['held'] / max(whole['notes'], 1):.2%}), {whole['held_in_ending']} of them in a piece's last 10 s")


if __name__ == "__main__":
    sys.exit(main())
