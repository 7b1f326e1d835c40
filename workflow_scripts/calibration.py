"""Rule calibration: real held-out, corpus-artist and random-note rows on the candidates' metrics
(thin adapter; jazz_solo.calibration)."""
import logging

from jazz_solo import calibration, copycheck, evaluate
from jazz_solo.config import config_hash

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
gen, ev = snakemake.params.generate, snakemake.params.evaluate
result = calibration.build_calibration(
    snakemake.input.pieces,
    evaluate.load_reference(snakemake.input.reference),
    copycheck.load_index(snakemake.input.phrases),
    split_pitch=int(snakemake.wildcards.split_pitch),
    max_seconds=gen["max_seconds"],
    threshold_ms=ev.get("dead_air_threshold_ms", 180),
    num_pieces=int(gen["num_pieces"]),
    num_samples=int(gen["num_samples"]),
    corpus_pieces=int(ev["calibration_pieces"]),
    seed=int(snakemake.params.seed),
)
result["provenance"] = evaluate.provenance(config_hash({"generate": gen, "evaluate": ev, "seed": snakemake.params.seed}))
evaluate.write_json(snakemake.output[0], result)
