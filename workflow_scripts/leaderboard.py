"""Rule leaderboard: every candidate's metrics.json -> ranked leaderboard.tsv + .md (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo import calibration, honesty, leaderboard, sweep  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
frame = leaderboard.gather(
    snakemake.params.candidates, snakemake.input.metrics, snakemake.params.rule, snakemake.params.min_notes
)
# Honesty flags (adapter gain, identical adapters, copy check) and the calibration rows.
facts = {t: honesty.adapter_facts(e, a) for t, e, a in
         zip(snakemake.params.train_candidates, snakemake.input.evals, snakemake.input.adapters)}
train_of = {c: sweep.instance("train", leaderboard.params_of(c)) for c in frame["candidate"]}
calib_rows, notes, held_out_copy = calibration.leaderboard_rows(
    snakemake.input.calibration, snakemake.input.base_only, snakemake.params.split_pitches
)
rows = honesty.annotate(frame.to_dict("records"), train_of, facts, held_out_copy)
frame = leaderboard.with_calibration(frame, rows, calib_rows)
leaderboard.write(frame, snakemake.output.tsv, snakemake.output.md, notes)
logging.info("%d candidates, %d eligible, %d calibration rows", len(rows), int(frame["rank"].notna().sum()), len(calib_rows))
