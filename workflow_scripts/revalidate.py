"""Rule revalidate: the selected candidate regenerated on new seeds and scored (thin adapter)."""

from _common import job

from jazz_solo.evaluation import scoring
from jazz_solo.selection.revalidate import revalidate

with job(snakemake, torch_threads=True) as run:
    result = revalidate(
        **run.winner(),
        reference_json=snakemake.input.reference,
        sweep_metrics_json=snakemake.input.sweep_metrics,
        num_samples=run.settings.select.num_samples_reval,
        samples_dir=snakemake.output.samples,
        jsonl_path=snakemake.output.jsonl,
    )
    scoring.write_json(snakemake.output.metrics, result)
