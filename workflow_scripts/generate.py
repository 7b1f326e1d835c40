"""Rule generate: adapter + held-out pieces -> samples/*.mid + samples.jsonl (thin adapter)."""
from pathlib import Path

from _common import job

from jazz_solo.generation.generate import run_generate

# bad input (an unreadable test piece, a missing base): one line
with job(snakemake, torch_threads=True) as run:
    # This candidate's old metrics.json scores samples that are about to be replaced: drop it first,
    # so a failed generation can never leave an "ok" score behind (the evaluate rule rebuilds it).
    Path(snakemake.output.jsonl).with_name("metrics.json").unlink(missing_ok=True)
    s = run.settings
    run_generate(
        snakemake.input.adapter,
        snakemake.input.pieces,
        snakemake.output.samples,
        snakemake.output.jsonl,
        s.generate,
        s.data,
    )
