"""Rule reference: metrics of the real lead of the target's test pieces (thin adapter)."""
import logging

from jazz_solo import evaluate
from jazz_solo.config import config_hash

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
settings = {
    "split_pitch": int(snakemake.wildcards.split_pitch),
    "max_seconds": snakemake.params.max_seconds,
    "threshold_ms": snakemake.params.evaluate.get("dead_air_threshold_ms", 180),
}
reference = evaluate.build_reference(evaluate.target_test_pieces(snakemake.input.pieces), **settings)
reference["provenance"] = evaluate.provenance(config_hash(settings))
evaluate.write_json(snakemake.output[0], reference)
