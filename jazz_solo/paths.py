"""Where every pipeline output lives: the one place the rules, the workflow scripts, the
leaderboard and the CLI take their paths from.

A stage's outputs sit below a path fragment holding every sweep parameter of that stage and of
the stages before it (:mod:`jazz_solo.sweep`): ``results/train/vocabulary~duration/split_pitch~60/
lora_r~8/.../adapter``. Each function here gives the snakemake *pattern* (wildcards such as
``{split_pitch}``) when called without ``w``, and one *instance* when ``w`` is a wildcards mapping
(or already a fragment, e.g. a leaderboard's candidate id). A sweep parameter added to
``sweep.PARAMS`` shows up in every path of its stage and the later ones with no edit here.
``root`` is the results folder (``results``, relative to the working directory, as in the rules).
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


def fragment(stage: str, w: Wildcards = None) -> str:
    """``stage``'s path fragment: the wildcard pattern (``w`` None), or one instance."""
    if w is None:
        return sweep.pattern(stage)
    if isinstance(w, str):
        return w
    return sweep.instance(stage, w)


# --- data stage ------------------------------------------------------------------------------

def demo_midi(collection: str = "{collection}", root: str | Path = RESULTS) -> str:
    """Folder of one music21 collection converted to MIDI (``demo_midi``)."""
    return f"{root}/demo_midi/{collection}"


def data_root(root: str | Path = RESULTS) -> str:
    return f"{root}/data"


def pieces(root: str | Path = RESULTS) -> str:
    """``ingest``'s table of usable pieces (piece_id, path, artist, source, split, ...)."""
    return f"{data_root(root)}/pieces.tsv"


def quarantine(root: str | Path = RESULTS) -> str:
    return f"{data_root(root)}/quarantine.tsv"


def data_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """``tokenize``'s folder: window sets, index, dataset_summary.json; also reference.json."""
    return f"{data_root(root)}/{fragment('data', w)}"


def window_set(name: str, w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """``{corpus,target}_{train,val,test}.npz`` of one data instance."""
    return f"{data_dir(w, root)}/{name}.npz"


def dataset_summary(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    return f"{data_dir(w, root)}/dataset_summary.json"


def reference(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """Metrics of the target's real lead (rule ``reference``): realism_distance's yardstick."""
    return f"{data_dir(w, root)}/reference.json"


def train_phrases(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """The target training pieces' lead steps (rule ``train_phrases``): the copy check's index."""
    return f"{data_dir(w, root)}/target_train_phrases.json"


# --- training --------------------------------------------------------------------------------

def base_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """``pretrain``'s folder (model/, train_log.csv, loss.png)."""
    return f"{root}/base/{fragment('data', w)}"


def base_model(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    return f"{base_dir(w, root)}/model"


def train_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """``train_lora``'s folder (adapter/, train_log.csv, loss.png, eval.json)."""
    return f"{root}/train/{fragment('train', w)}"


def adapter(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    return f"{train_dir(w, root)}/adapter"


# --- generation and evaluation ---------------------------------------------------------------

def gen_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """One generation candidate's folder (samples/, samples.jsonl, metrics.json); its fragment
    is the candidate id of the leaderboard."""
    return f"{root}/gen/{fragment('gen', w)}"


def metrics(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    return f"{gen_dir(w, root)}/metrics.json"


def calibration_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """Calibration rows of one data instance (calibration.json, base_only/)."""
    return f"{root}/calibration/{fragment('data', w)}"


def calibration(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    return f"{calibration_dir(w, root)}/calibration.json"


def base_only_dir(w: Wildcards = None, root: str | Path = RESULTS) -> str:
    """The base model alone (a zero adapter) over the candidates' comping."""
    return f"{calibration_dir(w, root)}/base_only"


# --- selection, export, report ---------------------------------------------------------------

def sweep_dir(root: str | Path = RESULTS) -> str:
    return f"{root}/sweep"


def leaderboard_tsv(root: str | Path = RESULTS) -> str:
    return f"{sweep_dir(root)}/leaderboard.tsv"


def leaderboard_md(root: str | Path = RESULTS) -> str:
    return f"{sweep_dir(root)}/leaderboard.md"


def best_dir(root: str | Path = RESULTS) -> str:
    """The exported winner: selection.json, reval/, adapter/, base_model/, bundle.json, best.json."""
    return f"{root}/best"


def report_dir(root: str | Path = RESULTS) -> str:
    return f"{root}/report"


# --- logs and benchmarks ---------------------------------------------------------------------

def log(name: str, stage: str | None = None, root: str | Path = RESULTS) -> str:
    """A rule's log: ``logs/<name>.log``, or ``logs/<name>/<stage pattern>.log`` per instance."""
    return f"{root}/logs/{name}/{sweep.pattern(stage)}.log" if stage else f"{root}/logs/{name}.log"


def benchmark(name: str, stage: str | None = None, root: str | Path = RESULTS) -> str:
    """A rule's benchmark TSV, laid out like :func:`log`."""
    return f"{root}/benchmarks/{name}/{sweep.pattern(stage)}.tsv" if stage else f"{root}/benchmarks/{name}.tsv"
