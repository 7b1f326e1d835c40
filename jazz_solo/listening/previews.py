"""The report's listening section: per held-out piece, the real right hand, the base model alone
and the best candidate's revalidated samples, all over the same comping, as playable clips.

The base-only solo uses the same conditioning and seed as the best's first sample, so the pair
differs only by the adapter: what the LoRA taught is what you hear change.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import audio
from ..evaluation.scoring import cap
from ..data.midi_io import load_notes, load_tracks, split_roles, write_midi
from ..settings import GenSettings, Settings
from ..data.tokens import Note

log = logging.getLogger(__name__)
# The report shows an HTML result in an iframe whose src is the page as a base64 data URL, and
# Chromium refuses URLs over 2 MiB (the iframe stays blank). Audio is base64 inside the page, so
# it grows 4/3 twice: ~1 MB of audio per page is the most that plays. Hence one page per piece,
# and a bitrate that fits its clips into the budget (48 kbit/s for the default 32-s clips).
PAGE_AUDIO_BYTES = 1_000_000
MIN_KBPS = 16
KIND_LABELS = {"real": "real right hand", "base": "base model only", "best": "best candidate"}


@dataclass
class Clip:
    piece_id: str
    kind: str  # real | base | best
    label: str
    midi: str
    audio: str = ""
    seed: int | None = None
    midi_seconds: float = 0.0
    audio_seconds: float = 0.0
    kbytes: float = 0.0
    kbps: float = 0.0
    render_s: float = 0.0


def pick_samples(jsonl: str | Path, max_pieces: int, per_piece: int) -> dict[str, list[dict[str, Any]]]:
    """The first ``per_piece`` revalidated samples of each of the first ``max_pieces`` pieces."""
    records = [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]
    by_piece: dict[str, list[dict[str, Any]]] = {}
    for rec in sorted(records, key=lambda r: (str(r["piece_id"]), int(r["sample"]))):
        by_piece.setdefault(str(rec["piece_id"]), []).append(rec)
    return {p: recs[:per_piece] for p, recs in list(by_piece.items())[:max_pieces]}


def comping_of(midi: str | Path) -> list[Note]:
    return load_tracks(midi).get("comping", [])


def real_tracks(piece_path: str | Path, split_pitch: int, seconds: float, comping: Sequence[Note]) -> dict[str, list[Note]]:
    """The piece's real right hand (notes > split_pitch, cut at ``seconds`` like a generated solo)
    over the comping the samples were generated on."""
    _, lead = split_roles(load_notes(piece_path), split_pitch)
    return {"comping": list(comping), "solo": cap(lead, seconds)}


def base_only_solos(
    settings: GenSettings, base_dir: str | Path, picks: Mapping[str, Sequence[Mapping[str, Any]]], samples_dir: str | Path
) -> dict[str, tuple[int, list[Note]]]:
    """piece_id -> (seed, solo) from the base model without adapter, on the comping and seed of
    that piece's first revalidated sample."""
    import torch

    from ..generation.generate import generate_piece
    from ..training.model import load_for_inference, pick_device

    model = load_for_inference(None, base_dir=base_dir, device=pick_device())
    out = {}
    with torch.no_grad():
        for piece_id, recs in picks.items():
            first = recs[0]
            cond = comping_of(Path(samples_dir) / Path(first["midi"]).name)
            result = generate_piece(model, cond, float(first["seconds"]), settings, [int(first["seed"])])
            out[piece_id] = (int(first["seed"]), result.solos[0])
    return out


def page_kbps(lengths_s: Sequence[float]) -> float:
    """The Opus bitrate at which clips of these lengths fit one page (48 at most, 16 at least)."""
    total = max(sum(lengths_s), 1e-9)
    return float(min(audio.OPUS_KBPS, max(MIN_KBPS, PAGE_AUDIO_BYTES * 8 / 1000 / total * 0.95)))


def _render(clip: Clip, tracks: Mapping[str, Sequence[Note]], synth: audio.Synth, out_dir: Path, kbps: float) -> Clip:
    """Render ``tracks`` to ``out_dir``/<clip's MIDI name>.opus and fill in the numbers."""
    import soundfile as sf

    t0 = time.perf_counter()
    target = out_dir / (Path(clip.midi).stem + ".opus")
    audio.render_notes(tracks, target, synth, kbps)
    clip.render_s = round(time.perf_counter() - t0, 3)
    clip.audio = str(target)
    clip.audio_seconds = round(sf.info(str(target)).duration, 3)
    clip.midi_seconds = round(max((n.end for ns in tracks.values() for n in ns), default=0.0), 3)
    clip.kbytes = round(target.stat().st_size / 1024, 1)
    clip.kbps = round(kbps, 1)
    return clip


def build_clips(
    picks: Mapping[str, Sequence[Mapping[str, Any]]],
    samples_dir: str | Path,
    pieces_tsv: str | Path,
    split_pitch: int,
    base_solos: Mapping[str, tuple[int, list[Note]]],
    synth: audio.Synth,
    out_dir: str | Path,
    max_seconds: float,
    workers: int = 1,
) -> list[Clip]:
    """Write the real and base-only MIDI beside the clips and render every clip of every piece
    (the first ``max_seconds`` of each: a preview, and a bound on the page size), ``workers`` at
    a time (threads: the work is in fluidsynth processes and in C code that releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = pd.read_csv(pieces_tsv, sep="\t", dtype=str, keep_default_na=False).set_index("piece_id")["path"]
    clips = []
    for piece_id, recs in picks.items():
        first = Path(samples_dir) / Path(recs[0]["midi"]).name
        comping = comping_of(first)
        plan: list[tuple[Clip, dict[str, list[Note]]]] = []
        if piece_id in paths.index:
            tracks = real_tracks(paths[piece_id], split_pitch, float(recs[0]["seconds"]), comping)
            midi = write_midi(out_dir / f"{piece_id}_real.mid", tracks)
            plan.append((Clip(piece_id, "real", KIND_LABELS["real"], str(midi)), tracks))
        if piece_id in base_solos:
            seed, solo = base_solos[piece_id]
            tracks = {"comping": list(comping), "solo": solo}
            midi = write_midi(out_dir / f"{piece_id}_base_s0.mid", tracks)
            plan.append((Clip(piece_id, "base", KIND_LABELS["base"], str(midi), seed=seed), tracks))
        for rec in recs:
            src = Path(samples_dir) / Path(rec["midi"]).name
            clip = Clip(piece_id, "best", f"best candidate, sample {rec['sample']}", str(src), seed=int(rec["seed"]))
            plan.append((clip, audio.roles_of(src, split_pitch)))
        plan = [(c, {k: cap(v, max_seconds) for k, v in t.items()}) for c, t in plan]
        kbps = page_kbps([audio.clip_frames(t) / audio.SAMPLE_RATE for _, t in plan])
        with ThreadPoolExecutor(max(1, workers)) as pool:
            clips += list(pool.map(lambda job: _render(*job, synth, out_dir, kbps), plan))  # noqa: B023 - list() consumes the map within this iteration
        log.info("%s: %d clips at %.0f kbit/s", piece_id, len(plan), kbps)
    return clips


def write_manifest(clips: Sequence[Clip], path: str | Path, **extra: Any) -> Path:
    Path(path).write_text(json.dumps({**extra, "clips": [asdict(c) for c in clips]}, indent=1) + "\n")
    return Path(path)


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.2em;color:#222}
.row{display:flex;flex-wrap:wrap;gap:.6em;margin-bottom:1.5em}.clip{border:1px solid #ccc;border-radius:6px;padding:.5em .6em}
.clip b{display:block;margin-bottom:.3em}audio{width:250px;display:block}.note{color:#666;font-size:.85em}
code{word-break:break-all}"""


NO_AUDIO_PAGE = "no-audio.html"  # the one page when nothing was rendered (its reason inside)


def page(clips: Sequence[Clip], out: str | Path, candidate: str, synth_name: str | None, problem: str = "") -> Path:
    """A self-contained HTML page (clips as data URIs, so the report carries them), the clips of
    one piece side by side; or, without a synthesizer, the one line saying what to install."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Listen</title><style>{_STYLE}</style></head><body>",
             "<h2>Listen: real right hand, base model alone, best candidate</h2>"]
    if problem:
        parts.append(f"<p>Audio previews failed: {html.escape(problem)}</p>")
    elif synth_name is None:
        parts.append(f"<p>Audio previews skipped: no synthesizer. Install it ({html.escape(audio.INSTALL_HINT)}), "
                     "then run snakemake again (this page is rebuilt when a synthesizer appears).</p>")
    else:
        rate = f", {clips[0].kbps:.0f} kbit/s" if clips else ""
        parts.append(f"<p class='note'>Comping panned left, solo right ({html.escape(synth_name)}, Opus 48 kHz{rate}). "
                     f"Best candidate: <code>{html.escape(candidate)}</code>. The base-only solo uses the same "
                     "comping and seed as the best's sample 0.</p>")
    for piece_id in dict.fromkeys(c.piece_id for c in clips):
        parts.append(f"<h3>{html.escape(piece_id)}</h3><div class='row'>")
        for c in (c for c in clips if c.piece_id == piece_id):
            data = base64.b64encode(Path(c.audio).read_bytes()).decode("ascii")
            seed = f"seed {c.seed}, " if c.seed is not None else ""
            parts.append(
                f"<div class='clip'><b>{html.escape(c.label)}</b>"
                f"<audio controls preload='auto' data-midi-seconds='{c.midi_seconds}' data-kind='{c.kind}' "
                f"src='data:audio/ogg;codecs=opus;base64,{data}'></audio>"
                f"<span class='note'>{seed}{c.midi_seconds:.1f} s, {c.kbytes:.0f} kB</span></div>"
            )
        parts.append("</div>")
    parts.append("</body></html>\n")
    Path(out).write_text("".join(parts))
    return Path(out)


def make_previews(
    settings: Settings,
    selection: Mapping[str, Any],
    adapter_dir: str | Path,
    pieces_tsv: str | Path,
    reval_jsonl: str | Path,
    reval_samples: str | Path,
    out_dir: str | Path,
    max_pieces: int,
    per_piece: int,
    max_seconds: float,
    workers: int = 1,
) -> dict[str, Any]:
    """The whole section in ``out_dir``: clips and their MIDI, ``<piece>.html`` per piece, and
    clips.json (with the time spent generating the base-only solos and rendering). Without a
    synthesizer (or if rendering fails) only ``no-audio.html``, saying why."""
    from ..training.model import adapter_base_dir

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidate = selection["candidate"]
    synth = audio.find_synth()
    if synth is None:
        log.warning("audio previews skipped: no synthesizer; install: %s", audio.INSTALL_HINT)
        page([], out_dir / NO_AUDIO_PAGE, candidate, None)
        return {"synth": None, "clips": []}
    picks = pick_samples(reval_jsonl, max_pieces, per_piece)
    gen = settings.gen
    t0 = time.perf_counter()
    base = base_only_solos(gen, adapter_base_dir(adapter_dir), picks, reval_samples)
    gen_s = time.perf_counter() - t0
    try:
        clips = build_clips(picks, reval_samples, pieces_tsv, gen.split_pitch, base, synth, out_dir, max_seconds, workers)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # a broken synth must not stop the run
        log.warning("audio previews failed: %s", exc)
        page([], out_dir / NO_AUDIO_PAGE, candidate, synth.describe(), problem=str(exc))
        return {"synth": synth.describe(), "clips": [], "error": str(exc)}
    render_s = time.perf_counter() - t0 - gen_s
    info = {"synth": synth.describe(), "candidate": candidate,
            "base_generate_s": round(gen_s, 2), "render_s": round(render_s, 2)}
    write_manifest(clips, out_dir / "clips.json", **info)
    for piece_id in picks:
        page([c for c in clips if c.piece_id == piece_id], out_dir / f"{piece_id}.html", candidate, synth.describe())
    log.info("%d clips (%.0f kB) rendered in %.1f s; base-only solos generated in %.1f s",
             len(clips), sum(c.kbytes for c in clips), render_s, gen_s)
    return {**info, "clips": [asdict(c) for c in clips]}
