"""Rule ingest: configured MIDI folders -> pieces.tsv + quarantine.tsv (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo.ingest import ingest  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
p = snakemake.params
try:
    ingest(p.corpus, p.target, p.split_ratios, p.seed, snakemake.output.pieces, snakemake.output.quarantine,
           snakemake.threads)
except ValueError as exc:  # e.g. a corpus of junk only: one line, also in the log
    logging.error("%s", exc)
    sys.exit(f"jazz-solo ingest: {exc}")
