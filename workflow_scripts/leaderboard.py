"""Rule leaderboard: every candidate's metrics.json -> ranked leaderboard.tsv + .md (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo import board, leaderboard  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
frame = leaderboard.gather(
    snakemake.params.candidates, snakemake.input.metrics, snakemake.params.rule, snakemake.params.min_notes
)
# Honesty flags (adapter gain, identical adapters, copy check) and the calibration rows.
frame, notes = board.complete(
    frame,
    snakemake.params.train_candidates,
    snakemake.input.evals,
    snakemake.input.adapters,
    snakemake.input.calibration,
    snakemake.input.base_only,
    snakemake.params.split_pitches,
)
leaderboard.write(frame, snakemake.output.tsv, snakemake.output.md, notes)
logging.info("%d rows, %d eligible candidates", len(frame), int(frame["rank"].notna().sum()))
