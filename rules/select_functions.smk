# Input/params functions of the sweep aggregation rules (rules in select.smk; kept apart for `snakemake --lint`).
import json

SWEEP_DIR = f"{RESULTS}/sweep"
BEST_DIR = f"{RESULTS}/best"
REPORT_DIR = f"{RESULTS}/report"
SELECT_LOGS = f"{RESULTS}/logs/select"


def candidate_metrics():
    """metrics.json of every generation candidate of the config (expand, never glob)."""
    return [f"{RESULTS}/gen/{c}/metrics.json" for c in instances("gen")]


def train_logs():
    """train_log.csv of every training candidate of the config, for the training-curves figure."""
    return [f"{RESULTS}/train/{c}/train_log.csv" for c in instances("train")]


def winner(wildcards):
    """The selected candidate's wildcards, once the select_best checkpoint has run."""
    with open(checkpoints.select_best.get().output[0]) as fh:
        return json.load(fh)["params"]


def winner_inputs(wildcards):
    """Selection + the winner's adapter and reference: what revalidation and export depend on."""
    w = winner(wildcards)
    return {
        "selection": checkpoints.select_best.get().output[0],
        "adapter": f"{RESULTS}/train/{sweep.instance('train', w)}/adapter",
        "reference": f"{DATA_DIR}/{sweep.instance('data', w)}/reference.json",
        "sweep_metrics": f"{RESULTS}/gen/{sweep.instance('gen', w)}/metrics.json",
        "pieces": f"{DATA_DIR}/pieces.tsv",
    }


def candidate_sections():
    """The config sections a candidate's settings are resolved from (not `sweep:` itself, whose
    edits must only add or remove candidates, never rerun the kept ones, nor `select:`)."""
    return {key: config[key] for key in ("seed", "data", "model", "pretrain", "lora", "generate", "evaluate")}
