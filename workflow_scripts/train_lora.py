"""Rule train_lora: base + target windows -> peft adapter, train_log.csv, loss.png, eval.json (thin adapter)."""
from _common import ERRORS, job

from jazz_solo.training.lora import train_lora
from jazz_solo.training.loop import TrainingDiverged

with job(snakemake, errors=(TrainingDiverged, *ERRORS), torch_threads=True) as run:
    s = run.settings
    train_lora(
        snakemake.input.base,
        snakemake.input.train,
        snakemake.input.val,
        s.lora,
        s.seed,
        snakemake.output.adapter,
        snakemake.output.log_csv,
        snakemake.output.plot,
        snakemake.output.eval,
    )
