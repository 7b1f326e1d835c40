"""Rule tokenize: pieces.tsv -> window sets + index + summary for one split_pitch (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo.dataset import tokenize  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
tokenize(snakemake.input.pieces, Path(snakemake.output.summary).parent, snakemake.params.data, snakemake.threads)
