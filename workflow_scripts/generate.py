"""Rule generate: adapter + held-out pieces -> samples/*.mid + samples.jsonl (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo.generate import run_generate  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
torch.set_num_threads(snakemake.threads)
# This candidate's old metrics.json scores samples that are about to be replaced: drop it first,
# so a failed generation can never leave an "ok" score behind (the evaluate rule rebuilds it).
Path(snakemake.output.jsonl).with_name("metrics.json").unlink(missing_ok=True)
try:
    run_generate(
        snakemake.input.adapter,
        snakemake.input.pieces,
        snakemake.output.samples,
        snakemake.output.jsonl,
        snakemake.params.generate,
        snakemake.params.data,
    )
except (ValueError, OSError) as exc:  # bad input (an unreadable test piece, a missing base): one line, also in the log
    logging.error("%s", exc)
    sys.exit(f"jazz-solo generate: {exc}")
