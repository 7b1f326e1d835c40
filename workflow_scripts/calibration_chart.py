"""Rule calibration_chart: the candidates' realism_distance beside the calibration rows (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo import leaderboard, report  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
report.calibration_chart(leaderboard.read(snakemake.input[0]), snakemake.params.swept, snakemake.output[0])
