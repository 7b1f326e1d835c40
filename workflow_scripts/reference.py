"""Rule reference: metrics of the real lead of the target artist's pieces (thin adapter; the
choice of pieces and the few-pieces warning: jazz_solo.calibration)."""
import logging
import sys

from jazz_solo import calibration, evaluate
from jazz_solo.config import config_hash

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
settings = {
    "split_pitch": int(snakemake.wildcards.split_pitch),
    "max_seconds": snakemake.params.max_seconds,
    "threshold_ms": snakemake.params.evaluate.get("dead_air_threshold_ms", 180),
}
named = snakemake.params.evaluate.get("reference")
try:
    pieces = calibration.reference_pieces(snakemake.input.pieces, named)
except ValueError as exc:  # a configured path matching nothing: one line naming the key
    logging.error("%s", exc)
    sys.exit(f"jazz-solo reference: {exc}")
reference = evaluate.build_reference(pieces, **settings)
reference["pieces_from"] = "evaluate.reference" if named else "target pieces except the test pieces"
reference["warning"] = calibration.reference_warning(reference["count"], snakemake.params.evaluate["min_reference_pieces"])
if reference["warning"]:
    logging.warning("%s", reference["warning"])
reference["provenance"] = evaluate.provenance(config_hash({**settings, "reference": named}))
evaluate.write_json(snakemake.output[0], reference)
