"""Real-time play-along: comping played in real time, the solo decided and sent on the clock (issue 16).

Each mode is a real-time session through :func:`jazz_solo.serving.live_midi.play`, the loop that
``serve --midi-in/--midi-out`` runs, without the ports: a player thread pushes the comping's note
on/offs into the input queue at their times (as the port reader does) and the solo's notes are
recorded as the scheduler sends them.

* ``live-causal``: a causal model (data.sequence causal) hears the comping every
  generate.chunk_seconds (0.1 s) and decides the solo up to generate.lookahead_seconds past it.
* ``chunk-behind`` (the control): a windowed model, 4-s chunks, each chunk's solo played during the next.

Per mode: step latency p50/p95/max (the model's work per chunk), deadline misses (steps that ran
past the next chunk), time to first note (from the first comping note), recency gap (a solo note's
time minus the comping time it had heard when decided), lateness (sent minus meant), solo notes
per second (live-causal also beside offline_causal_solo over the same comping: the same code with
the arrival simulated), onset_fit (+-100 ms) and harmonic_fit_gain of the solo as played, beside
the real right hand of the same pieces, and memory.

Models: ``--causal-adapter`` / ``--windowed-adapter``; by default bench/bench_vocabulary.py's dev
adapters for ``--target`` (results/bench_vocabulary/duration-causal|duration/base-<recipe>/lora/<Target>-<recipe>/adapter)
when present, else random models of the demo size (timing only; their quality numbers mean nothing
and are marked so). Comping: the target's dev test pieces (../shared/data; the split of
results/bench_vocabulary/pieces.tsv, else the first pieces of its folder), an equal share of the
session each taken from the middle of the piece (its opening is the head), one after another; without the dev data (said so) the synthetic comping of the tests.

    python bench/bench_realtime.py                  # 1 minute a mode
    python bench/bench_realtime.py --minutes 10     # the issue's 10-minute session
    python bench/bench_realtime.py --modes live-causal --minutes 10
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jazz_solo.evaluation import metrics  # noqa: E402
from jazz_solo.serving import live_midi  # noqa: E402
from jazz_solo.generation.causal import comping_events, offline_causal_solo  # noqa: E402
from jazz_solo.evaluation.scoring import cap  # noqa: E402
from jazz_solo.data.midi_io import MidiError, load_notes, split_roles  # noqa: E402
from jazz_solo.data.windows import excerpt, excerpt_starts  # noqa: E402
from bench.devdata import adapter_dir, base_dir  # noqa: E402
from jazz_solo.serving.engine import Engine  # noqa: E402
from jazz_solo.data.tokens import Note  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pijama_studio"
DEV = ROOT / "results" / "bench_vocabulary"
CONTROL_CHUNK_S = 4.0
GAP_S = 1.0  # silence between two pieces of the session


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dev_adapter(sequence: str, target: str) -> Path | None:
    """bench_vocabulary's adapter of ``target`` for the duration vocabulary in ``sequence``: the one of
    config.yaml's LoRA recipe, else the newest one there."""
    from jazz_solo.config import load_config

    base = base_dir(DEV / ("duration-causal" if sequence == "causal" else "duration"))
    current = adapter_dir(base, target, load_config()["lora"]) / "adapter"
    if (current / "adapter_config.json").is_file():
        return current
    found = sorted(base.parent.parent.glob(f"base*/lora/{target.replace(' ', '_')}-*/adapter/adapter_config.json"),
                   key=lambda p: p.stat().st_mtime)
    if found:  # numbers from another recipe are not today's defaults': say so before they are read as such
        print(f"note: no {sequence} adapter of config.yaml's LoRA recipe ({current.parent.name}); the newest "
              f"other one instead, {found[-1].parent.parent.name} (bench_vocabulary.py trains today's)")
    return found[-1].parent if found else None


def random_adapter(root: Path, sequence: str) -> Path:
    """A random demo-size base + LoRA adapter (config.yaml's model and lora): timing only."""
    from peft import LoraConfig, get_peft_model

    from jazz_solo.config import load_config
    from jazz_solo.training.lora import save_adapter
    from jazz_solo.training.model import build_model, save_base
    from jazz_solo.settings import ModelSettings

    cfg = load_config()
    base = build_model(ModelSettings.from_config(cfg["model"]), seed=0, data={**cfg["data"], "sequence": sequence, "vocabulary": "duration"})
    save_base(base, root / sequence / "base")
    lora = cfg["lora"]
    peft_cfg = LoraConfig(r=int(lora["r"]), lora_alpha=int(lora["alpha"]), target_modules=lora["target_modules"],
                          init_lora_weights=False)
    return save_adapter(get_peft_model(base, peft_cfg), root / sequence / "adapter", root / sequence / "base")


def test_pieces(target: str) -> list[Path]:
    """The target's dev test pieces (bench_vocabulary's split), else the first 4 of its folder."""
    table = DEV / "pieces.tsv"
    if table.is_file():
        with table.open() as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t") if r["artist"] == target and r["split"] == "test"]
        if rows:
            return [Path(r["path"]) for r in sorted(rows, key=lambda r: r["piece_id"])]
    return sorted((DATA / target).rglob("*.midi"))[:4]


def session_music(target: str, split_pitch: int, seconds: float) -> tuple[list[Note], list[Note], str]:
    """(comping, real right hand, source) filling ``seconds``: an equal share of each test piece."""
    if not DATA.is_dir():
        print(f"note: dev data not present at {DATA}: synthetic comping of the tests instead")
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import comping_and_lead

        cond, lead = split_roles(comping_and_lead(seconds), split_pitch)
        return cond, lead, "synthetic comping (tests/conftest.py)"
    files = test_pieces(target)
    if not files:
        raise SystemExit(f"bench_realtime: no pieces of {target!r} under {DATA}")
    share = max(1.0, (seconds - GAP_S * (len(files) - 1)) / len(files))
    cond: list[Note] = []
    lead: list[Note] = []
    offset = 0.0
    for path in files:
        try:
            notes = load_notes(path)
        except MidiError as exc:
            print(f"note: skipping {exc}")
            continue
        # the middle of the piece, not its opening: a jazz piece opens with its head (data.windows.excerpt_starts)
        middle = excerpt_starts(max(n.end for n in notes), share, 1)[0]
        c, l = split_roles(excerpt(notes, middle, share), split_pitch)
        first = min((n.start for n in c), default=0.0)  # start with the comping: the session starts on it
        for part, out in ((c, cond), (l, lead)):
            moved = [n._replace(start=n.start - first, end=n.end - first) for n in part if n.start >= first]
            out += [n._replace(start=n.start + offset, end=n.end + offset) for n in cap(moved, share)]
        offset += share + GAP_S
    return cond, lead, f"{len(files)} dev test pieces of {target} ({share:.0f} s from the middle of each)"


def play_in_real_time(engine: Engine, soloist: live_midi.Soloist, cond: list[Note], seconds: float) -> dict[str, Any]:
    """One session: a player thread pushes the comping at its times; play() runs the soloist."""
    import mido

    events = comping_events(cond)
    queue = live_midi.InputQueue(time.monotonic)
    stop = threading.Event()
    started = threading.Event()

    def player() -> None:
        started.wait()
        t0 = time.monotonic()
        for e in events:
            if stop.wait(max(0.0, t0 + e.time - time.monotonic())):
                return
            kind = "note_on" if e.velocity > 0 else "note_off"
            queue.push(mido.Message(kind, note=e.pitch, velocity=e.velocity))

    sent: list[tuple[str, int]] = []
    played: list[Note] = []
    thread = threading.Thread(target=player, daemon=True)
    thread.start()
    rss0 = rss_mb()
    try:
        stats = live_midi.play(queue, lambda m: sent.append((m.type, m.note)), soloist, stop, seconds,
                               on_ready=started.set, played=played)
    finally:
        stop.set()
        thread.join()
    sounding: set[int] = set()
    malformed = 0
    for kind, pitch in sent:  # every note_on gets its note_off, no double on
        malformed += (pitch in sounding) == (kind == "note_on")
        (sounding.add if kind == "note_on" else sounding.discard)(pitch)
    return {**stats, "played": played, "malformed": malformed + len(sounding), "rss_growth_mb": rss_mb() - rss0}


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def report(name: str, stats: dict[str, Any], cond: list[Note], lead: list[Note], seconds: float,
           offline: list[Note] | None, trained: bool) -> None:
    played = stats["played"]
    density = len(played) / seconds
    step, gap, late = stats["step_s"], stats["recency_gap_s"], stats["lateness_s"]
    print(f"\n## {name}")
    print(f"steps {stats['steps']}, step latency ms p50 {ms(step['p50'])} p95 {ms(step['p95'])} max {ms(step['max'])}; "
          f"deadline misses {stats['deadline_misses']}; time to first note {ms(stats['first_note_s'])} ms")
    print(f"recency gap ms p50 {ms(gap['p50'])} p95 {ms(gap['p95'])} max {ms(gap['max'])}; "
          f"lateness ms p50 {ms(late['p50'])} p95 {ms(late['p95'])} max {ms(late['max'])}; "
          f"decided after their onset {stats['decided_after_onset'] or 0:.1%}")
    line = f"solo notes {len(played)} ({density:.2f}/s; the real right hand {len(lead) / seconds:.2f}/s)"
    if offline is not None:
        off = len(offline) / seconds
        line += f"; offline_causal_solo over the same comping {len(offline)} ({off:.2f}/s, live/offline {density / off:.2f})" \
            if off else "; offline solo has no notes"
    print(line + f"; malformed note pairs {stats['malformed']}; RSS growth {stats['rss_growth_mb']:+.1f} MB")
    mark = "" if trained else "  (random model: not meaningful)"
    fit = {who: (metrics.onset_fit(notes, cond), metrics.harmonic_fit_gain(notes, cond),
                 metrics.semitone_fit_gain(notes, cond))
           for who, notes in (("solo as played", played), ("real right hand", lead))}
    for who, (onset, gain, semitone) in fit.items():
        print(f"{who:16s} onset_fit {onset:.3f}  harmonic_fit_gain {gain:+.3f}  semitone_fit_gain {semitone:+.3f}"
              f"{mark if who == 'solo as played' else ''}")
    real_onset, real_gain, real_semitone = fit["real right hand"]
    solo_onset, solo_gain, solo_semitone = fit["solo as played"]
    if real_semitone > 0:
        print(f"solo / real: semitone_fit_gain {solo_semitone / real_semitone:.0%}")
    if real_onset > 0 and real_gain > 0:
        print(f"solo / real: onset_fit {solo_onset / real_onset:.0%}, harmonic_fit_gain {solo_gain / real_gain:.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0, help="session length per mode (10: the issue's check)")
    ap.add_argument("--modes", nargs="+", default=["live-causal", "chunk-behind"], choices=["live-causal", "chunk-behind"])
    ap.add_argument("--target", default="Cedar Walton", help="whose dev test pieces (and dev adapters)")
    ap.add_argument("--causal-adapter", type=Path, default=None)
    ap.add_argument("--windowed-adapter", type=Path, default=None)
    ap.add_argument("--control-chunk-seconds", type=float, default=CONTROL_CHUNK_S)
    ap.add_argument("--chunk-seconds", type=float, default=None, help="live-causal: instead of generate.chunk_seconds")
    ap.add_argument("--lookahead-seconds", type=float, default=None,
                    help="live-causal: instead of generate.lookahead_seconds")
    ap.add_argument("--listening-guidance", type=float, default=None,
                    help="generate.listening_guidance of both modes (default: config.yaml's, auto: by sequence format)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seconds = args.minutes * 60.0
    with tempfile.TemporaryDirectory() as tmp:
        engines: dict[str, tuple[Engine, bool]] = {}
        for mode, sequence, given in (("live-causal", "causal", args.causal_adapter),
                                      ("chunk-behind", "windowed", args.windowed_adapter)):
            if mode not in args.modes:
                continue
            adapter = given or dev_adapter(sequence, args.target)
            trained = adapter is not None
            if adapter is None:
                print(f"note: no {sequence} dev adapter of {args.target} under {DEV}: a random demo-size model (timing only)")
                adapter = random_adapter(Path(tmp), sequence)
            engine = Engine.load(adapter_dir=adapter)
            for key in ("chunk_seconds", "lookahead_seconds", "listening_guidance"):  # the offline solo too
                if getattr(args, key) is not None:
                    engine.settings = dataclasses.replace(engine.settings, **{key: getattr(args, key)})
            if engine.causal != (sequence == "causal"):
                raise SystemExit(f"bench_realtime: {adapter} is not a {sequence} model (data.sequence {engine.settings.sequence})")
            engines[mode] = (engine, trained)
            print(f"{mode}: {engine.info['parameters']:,} parameters, {adapter}")
    split_pitch = next(iter(engines.values()))[0].split_pitch
    cond, lead, source = session_music(args.target, split_pitch, seconds)
    print(f"comping: {source}; {seconds / 60:.1f} min a mode, {args.threads} torch thread(s), seed {args.seed}")
    for mode, (engine, trained) in engines.items():
        offline = None
        if mode == "live-causal":
            s = engine.settings
            print(f"live-causal: chunks of {s.chunk_seconds * 1000:.0f} ms, lookahead {s.lookahead_seconds * 1000:.0f} ms, "
                  f"listening guidance {s.listening_guidance:g}")
            t = time.perf_counter()
            offline = offline_causal_solo(engine.model, cond, s, engine.split_pitch, args.seed, seconds=seconds).notes
            print(f"offline_causal_solo of the same comping: {time.perf_counter() - t:.1f} s of compute")
        # warm up outside the clock (a server loads and warms up before the set starts)
        warm = live_midi.soloist_for(engine, args.seed + 1, args.control_chunk_seconds)
        warm.begin([])
        warm.step([], warm.period)
        soloist = live_midi.soloist_for(engine, args.seed, args.control_chunk_seconds)
        stats = play_in_real_time(engine, soloist, cond, seconds)
        label = mode if mode == "live-causal" else f"chunk-behind ({soloist.period:g}-s chunks, the control)"
        report(label, stats, cond, lead, seconds, offline, trained)


if __name__ == "__main__":
    main()
