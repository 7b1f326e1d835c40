"""What the dev-data benches share: the fixed corpus of dev artists, its seeded split, the demo-size
base pretrained on it, per-artist window subsets and cached LoRA adapters.

bench_vocabulary.py and bench_quality.py use the same corpus and split, so a base pretrained by one
(``results/bench_vocabulary/<vocab>/base/model``) is valid for the other.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jazz_solo.config import PROJECT_ROOT, config_hash
from jazz_solo.data.dataset import index_path
from jazz_solo.data.ingest import ingest, read_pieces
from jazz_solo.training.lora import train_lora
from jazz_solo.data.midi_io import load_notes
from jazz_solo.settings import LoraSettings, ModelSettings, TrainSettings
from jazz_solo.data.tokens import Note
from jazz_solo.training.loop import pretrain
from jazz_solo.data.windows import WindowSet, excerpt_starts

DEV = PROJECT_ROOT.parent / "shared" / "data" / "pijama_studio"
CORPUS = ["Ahmad Jamal", "Geoffrey Keezer", "Harold Mabern", "John Taylor", "Phineas Newborn Jr",
          "Stanley Cowell", "Herbie Hancock", "Hiromi", "Jacky Terrasson", "John Hicks", "Lynne Arriale",
          "Michel Camilo", "Tommy Flanagan", "Vijay Iyer", "Cyrus Chestnut", "Kenny Barron", "McCoy Tyner"]
MODEL = {"n_layer": 2, "n_embd": 128, "n_head": 4, "intermediate_size": 384, "dropout": 0.0,  # the demo size
         "note_embeddings": "pitch_class"}
# 2,000 steps of batch 16 is still a fraction of one epoch of the 149,400 corpus windows; 500 (the
# earlier recipe) left the causal base barely listening: harmonic-fit gain of its live solos 0.05 / 0.12
# at 500 steps, 0.11 / 0.19 at 2,000 (Cedar Walton / Clare Fischer; README "Sequence formats").
BASE_STEPS = 2000
TARGET_RATIOS = {"train": 0.5, "val": 0.2, "test": 0.3}
EXCERPT_SECONDS = 32.0  # comping to solo over, per excerpt


def positive_int(text: str) -> int:
    """argparse type for counts (pieces, excerpts, samples): an error naming the value, not a traceback."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def piece_excerpts(path: str | Path, count: int) -> tuple[list[Note], list[float]]:
    """A piece's notes and the starts of ``count`` excerpts spread over it (data.windows.excerpt_starts:
    the openings alone are the head, not the piece's typical right hand)."""
    notes = load_notes(path)
    return notes, excerpt_starts(max(n.end for n in notes), EXCERPT_SECONDS, count)


def ingest_dev(data: Path, targets: list[str], out: Path, seed: int, threads: int) -> list[dict[str, str]]:
    """Ingest CORPUS + ``targets`` (targets split 50/20/30 by seeded hash) and split the corpus
    90 % train / 10 % val by piece id: the same corpus split whatever the targets are."""
    ingest([str(data / a) for a in CORPUS], [str(data / a) for a in targets], TARGET_RATIOS, seed,
           out / "pieces.tsv", out / "quarantine.tsv", threads=threads)
    pieces = read_pieces(out / "pieces.tsv")
    corpus_rows = [p for p in pieces if p["source"] == "corpus"]
    for i, row in enumerate(sorted(corpus_rows, key=lambda r: r["piece_id"])):
        row["split"] = "val" if i % 10 == 0 else "train"
    return pieces


def base_dir(data_dir: Path, steps: int = BASE_STEPS) -> Path:
    """Where the base of MODEL pretrained ``steps`` steps on ``data_dir``'s corpus lives: keyed by that
    recipe, so a changed recipe is pretrained anew rather than a stale base reused. Its adapters live
    beside it (:func:`adapter_for`)."""
    return data_dir / f"base-{config_hash({'model': MODEL, 'steps': steps})}" / "model"


def pretrain_base(data_dir: Path, config: dict[str, Any], steps: int, model_dir: Path) -> dict[str, Any]:
    """Pretrain the demo-size base on ``data_dir``'s corpus windows (fixed recipe: config.yaml's
    pretrain section with ``steps`` steps)."""
    train_cfg = {**config["pretrain"], "max_steps": steps, "eval_every": 100, "checkpoint_every": 100,
                 "val_windows": 256, "warmup_steps": max(1, steps // 10)}
    fit = pretrain(data_dir / "corpus_train.npz", data_dir / "corpus_val.npz", ModelSettings.from_config(MODEL),
                   TrainSettings.from_config(train_cfg),
                   config["seed"], model_dir, model_dir.parent / "train_log.csv", model_dir.parent / "loss.png")
    return {"best_val_per_token": fit.best_val, "best_step": fit.best_step}


def window_artists(index_tsv: Path, artist_of: dict[str, str]) -> list[str]:
    return [artist_of[pid] for pid in window_pieces(index_tsv)]


def window_pieces(index_tsv: Path) -> list[str]:
    """The piece id of each window of a set, in window order."""
    return [line.split("\t", 1)[0] for line in index_tsv.read_text().splitlines()[1:]]


def select(ws: WindowSet, keep: list[bool]) -> WindowSet:
    idx = [i for i, k in enumerate(keep) if k]
    return ws.take(idx)


def artist_windows(data_dir: Path, split: str, artist_of: dict[str, str], artist: str) -> WindowSet:
    ws = WindowSet.load(data_dir / f"target_{split}.npz")
    who = window_artists(data_dir / f"target_{split}.index.tsv", artist_of)
    return select(ws, [a == artist for a in who])


def save_artist_windows(data_dir: Path, split: str, artist_of: dict[str, str], artist: str, out: Path) -> None:
    """The artist's windows of ``split`` as ``out/<split>.npz`` with their index beside it (the
    adapter's training reads each window's transposition there)."""
    artist_windows(data_dir, split, artist_of, artist).save(out / f"{split}.npz")
    header, *rows = index_path(data_dir / f"target_{split}.npz").read_text().splitlines()
    kept = [row for row in rows if artist_of[row.split("\t", 1)[0]] == artist]
    index_path(out / f"{split}.npz").write_text("\n".join([header, *kept]) + "\n")


def adapter_for(base_dir: Path, data_dir: Path, artist_of: dict[str, str], artist: str, lora_cfg: dict,
                seed: int, out: Path | None = None) -> Path:
    """A LoRA adapter on the artist's train windows, early-stopped on its val windows (cached in
    ``out``, by default ``<base_dir>/../lora/<artist>-<hash of the recipe>``: beside its base)."""
    out = out or adapter_dir(base_dir, artist, lora_cfg)
    if not (out / "adapter" / "adapter_config.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        for split in ("train", "val"):
            save_artist_windows(data_dir, split, artist_of, artist, out)
        (out / "dataset_summary.json").write_text((data_dir / "dataset_summary.json").read_text())
        train_lora(base_dir, out / "train.npz", out / "val.npz", LoraSettings.from_config(lora_cfg), seed, out / "adapter",
                   out / "train_log.csv", out / "loss.png", out / "eval.json")
    return out / "adapter"


def adapter_dir(base_dir: Path, artist: str, lora_cfg: dict) -> Path:
    """Where :func:`adapter_for` keeps ``artist``'s adapter of recipe ``lora_cfg`` on ``base_dir``."""
    return base_dir.parent / "lora" / f"{artist.replace(' ', '_')}-{config_hash(lora_cfg)}"
