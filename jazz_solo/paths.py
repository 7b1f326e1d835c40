"""Where every pipeline output lives: the one place the rules, the workflow scripts, the
leaderboard and the CLI take their paths from (docs/architecture.md#data-flow).

A stage's outputs sit in an *instance folder* named by a path fragment holding every sweep
parameter of that stage and of the stages before it (:mod:`jazz_solo.sweep`), e.g.
``results/train/vocabulary~duration/sequence~windowed/split_pitch~60/lora_r~8/...``. Called without
``w``, :func:`folder` and :func:`file` give the snakemake *pattern* (wildcards such as
``{split_pitch}``); with ``w`` (a wildcards mapping, or already a fragment such as a leaderboard's
candidate id) one *instance*. A parameter added to ``sweep.PARAMS`` shows up in every path of its
stage and the later ones with no edit here. ``root`` is the results folder (``results``, relative
to the working directory, as in the rules).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import sweep

RESULTS = "results"
SOURCES = ("corpus", "target")
SPLITS = ("train", "val", "test")
DATA_SETS = tuple(f"{source}_{split}" for source in SOURCES for split in SPLITS)

Wildcards = Mapping[str, str] | str | None
Root = str | Path

# Instance folders: kind -> (folder under the results root, the stage whose fragment names it).
FOLDERS = {
    "data": ("data", "data"),  # tokenize: window sets + index, dataset_summary.json; reference.json
    "base": ("base", "data"),  # pretrain: model/, train_log.csv, loss.png
    "train": ("train", "train"),  # train_lora: adapter/, train_log.csv, loss.png, eval.json
    "gen": ("gen", "gen"),  # generate + evaluate: samples/, samples.jsonl, metrics.json (a candidate)
    "calibration": ("calibration", "data"),  # calibration.json, base_only/ (the base without adapter)
}

# Named outputs: name -> (instance folder kind, or None for the results root; path inside it).
FILES = {
    "demo_midi": (None, "demo_midi/{collection}"),  # one music21 collection as MIDI
    "pieces": (None, "data/pieces.tsv"),  # ingest: every usable piece, its artist, source and split
    "quarantine": (None, "data/quarantine.tsv"),  # ingest: every unusable file and why
    "dataset_summary": ("data", "dataset_summary.json"),
    "reference": ("data", "reference.json"),  # the target's real lead: realism_distance's yardstick
    "train_phrases": ("data", "target_train_phrases.json"),  # the copy check's index
    "base_model": ("base", "model"),
    "base_log": ("base", "train_log.csv"),
    "base_loss": ("base", "loss.png"),
    "adapter": ("train", "adapter"),
    "train_log": ("train", "train_log.csv"),
    "train_loss": ("train", "loss.png"),
    "eval": ("train", "eval.json"),  # val NLL of base and base + adapter
    "samples": ("gen", "samples"),
    "samples_jsonl": ("gen", "samples.jsonl"),
    "metrics": ("gen", "metrics.json"),
    "calibration": ("calibration", "calibration.json"),
    "base_only": ("calibration", "base_only"),
    "base_only_metrics": ("calibration", "base_only/metrics.json"),
    "zero_adapter": ("calibration", "base_only/zero_adapter"),  # base + this adapter == the base
    "leaderboard_tsv": (None, "sweep/leaderboard.tsv"),
    "leaderboard_md": (None, "sweep/leaderboard.md"),
    "best": (None, "best"),  # the exported winner (jazz_solo/selection/export.py lists its layout)
    "selection": (None, "best/selection.json"),  # select_best: the winner and why
    "reval_samples": (None, "best/reval/samples"),  # the winner regenerated on new seeds
    "reval_jsonl": (None, "best/reval/samples.jsonl"),
    "reval_metrics": (None, "best/reval/metrics.json"),
    "best_adapter": (None, "best/adapter"),
    "best_base_model": (None, "best/base_model"),
    "bundle": (None, "best/bundle.json"),
    "best_json": (None, "best/best.json"),
    "archive": (None, "best/archive.tgz"),
    "report": (None, "report"),  # figures and audio previews of the report
    "piano_rolls": (None, "report/piano_rolls.png"),
    "metric_distributions": (None, "report/metric_distributions.png"),
    "training_curves": (None, "report/training_curves.png"),
    "calibration_chart": (None, "report/calibration.png"),
    "listen": (None, "report/listen"),
}


def fragment(stage: str, w: Wildcards = None) -> str:
    """``stage``'s path fragment: the wildcard pattern (``w`` None), or one instance."""
    if w is None:
        return sweep.pattern(stage)
    return w if isinstance(w, str) else sweep.instance(stage, w)


def folder(kind: str, w: Wildcards = None, root: Root = RESULTS) -> str:
    """An instance folder of :data:`FOLDERS` (``data``, ``base``, ``train``, ``gen``, ``calibration``)."""
    name, stage = FOLDERS[kind]
    return f"{root}/{name}/{fragment(stage, w)}"


def file(name: str, w: Wildcards = None, root: Root = RESULTS, **fields: str) -> str:
    """A named output of :data:`FILES`; ``fields`` fill its own placeholders (``collection``)."""
    kind, inside = FILES[name]
    base = str(root) if kind is None else folder(kind, w, root)
    return f"{base}/{inside.format(**fields) if fields else inside}"


def window_set(name: str, w: Wildcards = None, root: Root = RESULTS) -> str:
    """``{corpus,target}_{train,val,test}.npz`` (:data:`DATA_SETS`) of one data instance."""
    return f"{folder('data', w, root)}/{name}.npz"


def window_index(name: str, w: Wildcards = None, root: Root = RESULTS) -> str:
    """The ``.index.tsv`` beside a window set: one row per window (piece, start, transposition)."""
    return f"{folder('data', w, root)}/{name}.index.tsv"


def in_results(name: str) -> str:
    """Where a named output of the results root sits inside it (``best/bundle.json``): its name in
    archive.tgz."""
    kind, inside = FILES[name]
    if kind is not None:
        raise ValueError(f"{name}: an output of every {kind} instance, not one place in the results root")
    return inside


def existing(name: str, root: Root = RESULTS) -> list[Path]:
    """Every instance of the named output that exists under ``root`` (any path fragment), sorted."""
    kind, inside = FILES[name]
    return sorted(Path(root).glob(inside if kind is None else f"{FOLDERS[kind][0]}/**/{inside}"))


def log(name: str, stage: str | None = None, root: Root = RESULTS) -> str:
    """A rule's log: ``logs/<name>.log``, or ``logs/<name>/<stage pattern>.log`` per instance."""
    return f"{root}/logs/{name}/{sweep.pattern(stage)}.log" if stage else f"{root}/logs/{name}.log"


def benchmark(name: str, stage: str | None = None, root: Root = RESULTS) -> str:
    """A rule's benchmark TSV, laid out like :func:`log`."""
    return f"{root}/benchmarks/{name}/{sweep.pattern(stage)}.tsv" if stage else f"{root}/benchmarks/{name}.tsv"
