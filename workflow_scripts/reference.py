"""Rule reference: metrics of the real lead of the target artist's pieces (thin adapter; the
choice of pieces and the few-pieces warning: jazz_solo.evaluation.calibration)."""
import logging

from _common import job

from jazz_solo.evaluation import calibration, scoring
from jazz_solo.config import config_hash

with job(snakemake) as run:  # a configured path matching nothing: one line naming the key
    s = run.settings
    settings = {
        "split_pitch": s.data.split_pitch,
        "max_seconds": s.generate.max_seconds,
        "threshold_ms": s.evaluate.dead_air_threshold_ms,
    }
    named = s.evaluate.reference
    pieces = calibration.reference_pieces(snakemake.input.pieces, named)
    reference = scoring.build_reference(pieces, **settings)
    reference["pieces_from"] = "evaluate.reference" if named else "target pieces except the test pieces"
    reference["warning"] = calibration.reference_warning(reference["count"], s.evaluate.min_reference_pieces)
    if reference["warning"]:
        logging.warning("%s", reference["warning"])
    reference["provenance"] = scoring.provenance(config_hash({**settings, "reference": named}))
    scoring.write_json(snakemake.output[0], reference)
