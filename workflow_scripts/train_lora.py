"""Rule train_lora: base + target windows -> peft adapter, train_log.csv, loss.png, eval.json (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo.lora import train_lora  # noqa: E402
from jazz_solo.train import TrainingDiverged  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
torch.set_num_threads(snakemake.threads)
try:
    train_lora(
        snakemake.input.base,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.params.lora,
        snakemake.params.seed,
        snakemake.output.adapter,
        snakemake.output.log_csv,
        snakemake.output.plot,
        snakemake.output.eval,
    )
except (TrainingDiverged, ValueError) as exc:
    logging.error("%s", exc)
    sys.exit(f"jazz-solo train_lora: {exc}")
