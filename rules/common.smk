# Shared by the rules, one section per stage: the validated config and its typed settings
# (jazz_solo/settings.py), load-time checks and every input/params function; paths come from
# jazz_solo/paths.py. No rules in this file, only functions (`snakemake --lint`).
# A rule's params are the settings its outputs depend on, so that changing one reruns it; the
# scripts read the same values typed, from the job's settings (workflow_scripts/_common.py).
import json
import sys
from pathlib import Path

from jazz_solo import paths, sweep
from jazz_solo.config import ConfigError, merged_config, validate_config
from jazz_solo.data.ingest import expand_entry
from jazz_solo.training.model import check_data, recorded_base_data
from jazz_solo.settings import CANDIDATE_SECTIONS, Settings

# ---- config --------------------------------------------------------------------------------
# `--configfile X.yaml` makes snakemake skip the Snakefile's config.yaml: merge X over config.yaml
# and the schema's defaults (as jazz_solo.config.load_config does), so an override file only names
# what it changes (e.g. tests/configs/tiny.yaml).
config.update(merged_config(config))

try:
    validate_config(config)
except ConfigError as err:
    # One line naming the key, before any job runs (no Python traceback).
    sys.exit(f"jazz-solo: {err}")

SETTINGS = Settings.from_config(config)
RESULTS = paths.RESULTS

if workflow.is_main_process and not any(Path(".snakemake/locks").glob("*")):
    # A truncated adapter or metrics.json keeps its mtime, so snakemake would call it up to date:
    # set such files aside (warning) so that this run rebuilds them. Only in the main process, and
    # not while another snakemake holds this folder (its outputs may be mid-write).
    from jazz_solo.artifacts import set_aside_corrupt

    for _path, _reason in set_aside_corrupt(RESULTS):
        print(f"jazz-solo: {_reason}; set aside as {_path.name}.corrupt, rebuilding", file=sys.stderr)


wildcard_constraints:
    **{p.name: r"[^/]+" for p in sweep.PARAMS},
    collection=r"[^/]+",


def instances(stage):
    """Path fragments of every candidate of ``stage`` named by the config (expand, never glob)."""
    return [sweep.instance(stage, combo) for combo in sweep.combinations(config, stage)]


def stage_config(wildcards):
    """The config with this job's wildcards applied (what a script should use)."""
    return sweep.resolve(config, dict(wildcards))


# ---- data (rules/data.smk) -----------------------------------------------------------------


def demo_collections():
    """music21 collections whose converted folder is named by data.corpus/data.target."""
    named = SETTINGS.data.corpus + SETTINGS.data.target
    return [
        c
        for c in SETTINGS.demo.get("collections", {})
        if any(paths.file("demo_midi", collection=c) in p for p in named)
    ]


def _ingest_inputs():
    """Every configured MIDI file (demo folders: the demo_midi output folder itself)."""
    files = []
    for key in ("corpus", "target"):
        for entry in getattr(SETTINGS.data, key):
            demo = [
                paths.file("demo_midi", collection=c)
                for c in demo_collections()
                if paths.file("demo_midi", collection=c) in entry
            ]
            files += demo or [path for path, _, _ in expand_entry(entry, f"data.{key}")]
    return sorted(set(files))


try:
    # Resolved once while the workflow loads: a path matching nothing is one line, before any job.
    INGEST_INPUTS = _ingest_inputs()
except ValueError as err:
    sys.exit(f"jazz-solo: {err}")


def demo_count(wildcards):
    """How many pieces of a music21 collection the demo converts (config demo.collections)."""
    return SETTINGS.demo["collections"][wildcards.collection]


def tokenize_data_config(wildcards):
    """The data section with this job's data-stage wildcards applied."""
    return stage_config(wildcards)["data"]


# ---- training (rules/train.smk) ------------------------------------------------------------

BASE_CHECKPOINT = SETTINGS.model.checkpoint
if BASE_CHECKPOINT and not Path(BASE_CHECKPOINT, "config.json").is_file():
    # One line before any job runs, instead of a failing job later.
    sys.exit(
        f"jazz-solo: config key 'model.checkpoint': {BASE_CHECKPOINT} has no config.json (not a base model directory)"
    )
if BASE_CHECKPOINT:
    try:  # its vocabulary and split pitch must be the data's: one line now, not a failed job later
        check_data(
            recorded_base_data(BASE_CHECKPOINT),
            SETTINGS.data.as_config(),
            f"config key 'model.checkpoint' {BASE_CHECKPOINT}",
        )
    except ValueError as err:
        sys.exit(f"jazz-solo: {err}")

# The model settings that shape a pretrained base (the checkpoint key only selects one).
MODEL_SETTINGS = SETTINGS.model.shape()


def base_model_dir(wildcards):
    """The base model of a LoRA job: the user's model.checkpoint when set, else the pretrained one."""
    return BASE_CHECKPOINT or paths.file("base_model", wildcards)


def lora_settings(wildcards):
    """The lora section with this job's sweep wildcards applied (all of it, so any change reruns)."""
    return stage_config(wildcards)["lora"]


# ---- generation (rules/generate.smk) -------------------------------------------------------


def gen_adapter_dir(wildcards):
    """The adapter this candidate generates with: its train-stage wildcards' LoRA output."""
    return paths.file("adapter", wildcards)


def gen_settings(wildcards):
    """The generate section with this job's sweep wildcards applied (all of it: any change reruns)."""
    return stage_config(wildcards)["generate"]


def gen_window_settings(wildcards):
    """The data settings generation must share with training: vocabulary, sequence format, role split, window length."""
    data = stage_config(wildcards)["data"]
    return {k: data[k] for k in ("vocabulary", "sequence", "split_pitch", "window_seconds")}


# ---- selection (rules/select.smk, rules/listen.smk) ----------------------------------------


def winner(wildcards):
    """The selected candidate's wildcards, once the select_best checkpoint has run."""
    with open(checkpoints.select_best.get().output[0]) as fh:
        return json.load(fh)["params"]


def winner_inputs(wildcards):
    """Selection + the winner's adapter and reference: what revalidation and export depend on."""
    w = winner(wildcards)
    return {
        "selection": checkpoints.select_best.get().output[0],
        "adapter": paths.file("adapter", w),
        "reference": paths.file("reference", w),
        "sweep_metrics": paths.file("metrics", w),
        "pieces": paths.file("pieces"),
    }


def candidate_sections():
    """The config sections a candidate's settings are resolved from (settings.CANDIDATE_SECTIONS:
    not `sweep:` itself, whose edits must only add or remove candidates, never rerun the kept ones,
    nor `select:`)."""
    return {key: config[key] for key in CANDIDATE_SECTIONS}


def synth_status():
    """Which synthesizer renders the audio previews (a param: installing one reruns them)."""
    from jazz_solo.listening import audio

    return audio.synth_status()


def swept():
    """The names of the swept parameters (labels in the report)."""
    return sorted(SETTINGS.sweep)


# ---- rule all ------------------------------------------------------------------------------


def final_targets():
    """The all target (Snakefile), every stage's outputs for every instance the config names."""
    data, train, gen = instances("data"), instances("train"), instances("gen")
    return [
        *(paths.file("dataset_summary", d) for d in data),
        *(paths.window_set(name, d) for d in data for name in paths.DATA_SETS),
        *(paths.window_index(name, d) for d in data for name in paths.DATA_SETS),
        *(paths.file("eval", t) for t in train),
        *(paths.file("samples_jsonl", g) for g in gen),
        *(paths.file("metrics", g) for g in gen),
        *(paths.file("calibration", d) for d in data),
        *(paths.file("base_only_metrics", d) for d in data),
        paths.file("calibration_chart"),
        paths.file("leaderboard_md"),
        paths.file("archive"),
        paths.file("best_json"),
        *(paths.file(name) for name in ("piano_rolls", "metric_distributions", "training_curves")),
        paths.file("listen"),
    ]
