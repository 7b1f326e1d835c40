"""Rule export: results/best/ bundle (adapter, base, settings, best.json) + archive.tgz (thin adapter)."""
import logging

from _common import job

from jazz_solo.selection.export import export_best

with job(snakemake) as run:
    record = export_best(
        run.winner()["settings"],
        snakemake.input.selection,
        snakemake.input.adapter,
        snakemake.input.reval_metrics,
        snakemake.input.reval_samples,
        snakemake.input.reval_jsonl,
        [snakemake.input.leaderboard_tsv, snakemake.input.leaderboard_md],
        dict(snakemake.output.items()),
    )
    logging.info("exported %s (adapter sha256 %s)", record["candidate"], record["adapter_sha256"])
