"""Rule demo_midi: music21 corpus collection -> MIDI folder (thin adapter)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
from jazz_solo.demo import convert_collection  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
convert_collection(snakemake.wildcards.collection, snakemake.params.pieces, snakemake.output[0], snakemake.threads)
