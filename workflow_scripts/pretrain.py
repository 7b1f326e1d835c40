"""Rule pretrain: corpus windows -> base model dir + train_log.csv + loss.png (thin adapter)."""
from _common import ERRORS, job

from jazz_solo.training.loop import TrainingDiverged, pretrain

with job(snakemake, errors=(TrainingDiverged, *ERRORS), torch_threads=True) as run:  # e.g. empty window sets: one line
    s = run.settings
    pretrain(
        snakemake.input.train,
        snakemake.input.val,
        s.model,
        s.pretrain,
        s.seed,
        snakemake.output.model,
        snakemake.output.log_csv,
        snakemake.output.plot,
    )
