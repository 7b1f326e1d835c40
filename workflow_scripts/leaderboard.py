"""Rule leaderboard: every candidate's metrics.json -> ranked leaderboard.tsv + .md (thin adapter)."""
import logging

from _common import job

from jazz_solo.selection import board, leaderboard

with job(snakemake) as run:
    select = run.settings.select
    frame = leaderboard.gather(snakemake.params.candidates, snakemake.input.metrics, select.rule, select.min_notes)
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
