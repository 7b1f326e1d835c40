"""Rule calibration_chart: the candidates' realism_distance beside the calibration rows (thin adapter)."""
from _common import job

from jazz_solo.selection import leaderboard, report_figures

with job(snakemake):
    report_figures.calibration_chart(leaderboard.read(snakemake.input[0]), snakemake.params.swept, snakemake.output[0])
