"""Rule revalidate: the selected candidate regenerated on new seeds and scored (thin adapter)."""
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo import evaluate, sweep  # noqa: E402
from jazz_solo.revalidate import revalidate  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
torch.set_num_threads(snakemake.threads)
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
