"""Checkpoint select_best: leaderboard.tsv -> selection.json naming the winner (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo import leaderboard  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
selection = leaderboard.select_from(snakemake.input.tsv, snakemake.params.rule, snakemake.params.min_notes)
leaderboard.write_json(snakemake.output[0], selection)
logging.info("best candidate: %s", selection["candidate"])
