"""Rule report_figures: piano rolls, metric distributions, training curves (thin adapter)."""
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo import report  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
selection = json.loads(Path(snakemake.input.selection).read_text())
split_pitch = int(selection["params"]["split_pitch"])
report.piano_rolls(
    snakemake.input.reval_jsonl, snakemake.input.reval_samples, split_pitch,
    snakemake.output.piano_rolls, snakemake.params.max_rolls,
)
report.metric_distributions(
    json.loads(Path(snakemake.input.reval_metrics).read_text()),
    json.loads(Path(snakemake.input.reference).read_text()),
    snakemake.output.distributions,
)
labels = [report.short_label(c, snakemake.params.swept) for c in snakemake.params.train_candidates]
report.training_curves(snakemake.input.train_logs, labels, snakemake.output.curves)
