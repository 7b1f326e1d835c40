"""Checkpoint select_best: leaderboard.tsv -> selection.json naming the winner (thin adapter)."""
import logging

from _common import job

from jazz_solo.selection import leaderboard

with job(snakemake) as run:  # no candidate qualifies: one line with every candidate's reason
    select = run.settings.select
    selection = leaderboard.select_from(snakemake.input.tsv, select.rule, select.min_notes)
    leaderboard.write_json(snakemake.output[0], selection)
    logging.info("best candidate: %s", selection["candidate"])
