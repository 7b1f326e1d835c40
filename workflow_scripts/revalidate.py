"""Rule revalidate: the selected candidate regenerated on new seeds and scored (thin adapter)."""
import json
from pathlib import Path

from _common import job

from jazz_solo import evaluate, sweep
from jazz_solo.revalidate import revalidate

with job(snakemake, torch_threads=True):
    selection = json.loads(Path(snakemake.input.selection).read_text())
    result = revalidate(
        sweep.resolve(snakemake.params.sections, selection["params"]),
        selection,
        adapter_dir=snakemake.input.adapter,
        pieces_tsv=snakemake.input.pieces,
        reference_json=snakemake.input.reference,
        sweep_metrics_json=snakemake.input.sweep_metrics,
        num_samples=snakemake.params.num_samples,
        samples_dir=snakemake.output.samples,
        jsonl_path=snakemake.output.jsonl,
    )
    evaluate.write_json(snakemake.output.metrics, result)
