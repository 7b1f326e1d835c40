"""Rule report_figures: piano rolls, metric distributions, training curves (thin adapter)."""
import json
from pathlib import Path

from _common import job

from jazz_solo.selection import report_figures

with job(snakemake):
    selection = json.loads(Path(snakemake.input.selection).read_text())
    split_pitch = int(selection["params"]["split_pitch"])
    report_figures.piano_rolls(
        snakemake.input.reval_jsonl, snakemake.input.reval_samples, split_pitch,
        snakemake.output.piano_rolls, snakemake.params.max_rolls,
    )
    report_figures.metric_distributions(
        json.loads(Path(snakemake.input.reval_metrics).read_text()),
        json.loads(Path(snakemake.input.reference).read_text()),
        snakemake.output.distributions,
    )
    labels = [report_figures.short_label(c, snakemake.params.swept) for c in snakemake.params.train_candidates]
    report_figures.training_curves(snakemake.input.train_logs, labels, snakemake.output.curves)
