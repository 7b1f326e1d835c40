# Shared by every rule file (config validation, sweep patterns, input functions). No rules here (snakemake --lint).
import sys
from pathlib import Path

import yaml

from jazz_solo import sweep
from jazz_solo.config import DEFAULT_CONFIG_PATH, ConfigError, deep_merge, validate_config

# `--configfile X.yaml` makes snakemake skip the Snakefile's config.yaml; merge X over the
# defaults instead (as jazz_solo.config.load_config does), so an override file only names
# what it changes (e.g. tests/configs/tiny.yaml).
config.update(deep_merge(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()), config))

try:
    validate_config(config)
except ConfigError as err:
    # One line naming the key, before any job runs (no Python traceback).
    sys.exit(f"jazz-solo: {err}")

RESULTS = "results"

if workflow.is_main_process and not any(Path(".snakemake/locks").glob("*")):
    # A truncated adapter or metrics.json keeps its mtime, so snakemake would call it up to date:
    # set such files aside (warning) so that this run rebuilds them. Only in the main process, and
    # not while another snakemake holds this folder (its outputs may be mid-write).
    from jazz_solo.artifacts import set_aside_corrupt

    for _path, _reason in set_aside_corrupt(RESULTS):
        print(f"jazz-solo: {_reason}; set aside as {_path.name}.corrupt, rebuilding", file=sys.stderr)
DATA_DIR = f"{RESULTS}/data"
DATA_PATTERN = sweep.pattern("data")  # vocabulary~{vocabulary}/sequence~{sequence}/split_pitch~{split_pitch}
TRAIN_PATTERN = sweep.pattern("train")  # + lora_r~{lora_r}/...
GEN_PATTERN = sweep.pattern("gen")  # + temperature~{temperature}/...
SOURCES = ("corpus", "target")
SPLITS = ("train", "val", "test")


wildcard_constraints:
    **{p.name: r"[^/]+" for p in sweep.PARAMS},
    collection=r"[^/]+",


def instances(stage):
    """Path fragments of every candidate of ``stage`` named by the config (expand, never glob)."""
    return [sweep.instance(stage, combo) for combo in sweep.combinations(config, stage)]


def stage_config(wildcards):
    """The config with this job's wildcards applied (what a script should use)."""
    return sweep.resolve(config, dict(wildcards))


def demo_collections():
    """music21 collections whose converted folder is named by data.corpus/data.target."""
    wanted = config.get("demo", {}).get("collections", {})
    named = [p for p in config["data"]["corpus"] + config["data"]["target"]]
    return [c for c in wanted if any(f"{RESULTS}/demo_midi/{c}" in p for p in named)]


FINAL_TARGETS = []


def final_targets():
    """What `rule all` builds; each rule file appends its stage's targets."""
    return FINAL_TARGETS
