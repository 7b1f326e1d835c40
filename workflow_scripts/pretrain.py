"""Rule pretrain: corpus windows -> base model dir + train_log.csv + loss.png (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo.train import TrainingDiverged, pretrain  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
torch.set_num_threads(snakemake.threads)
try:
    pretrain(
        snakemake.input.train,
        snakemake.input.val,
        snakemake.params.model,
        snakemake.params.pretrain,
        snakemake.params.seed,
        snakemake.output.model,
        snakemake.output.log_csv,
        snakemake.output.plot,
    )
except (TrainingDiverged, ValueError) as exc:  # ValueError: e.g. empty window sets, one line
    logging.error("%s", exc)
    sys.exit(f"jazz-solo pretrain: {exc}")
