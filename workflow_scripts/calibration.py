"""Rule calibration: real held-out, corpus-artist and random-note rows on the candidates' metrics
(thin adapter; jazz_solo.evaluation.calibration)."""
from _common import job

from jazz_solo.evaluation import calibration, copycheck, scoring
from jazz_solo.config import config_hash

with job(snakemake) as run:
    s = run.settings
    result = calibration.build_calibration(
        snakemake.input.pieces,
        scoring.load_reference(snakemake.input.reference),
        copycheck.load_index(snakemake.input.phrases),
        split_pitch=s.data.split_pitch,
        max_seconds=s.generate.max_seconds,
        threshold_ms=s.evaluate.dead_air_threshold_ms,
        num_pieces=s.generate.num_pieces,
        num_samples=s.generate.num_samples,
        corpus_pieces=s.evaluate.calibration_pieces,
        seed=s.seed,
    )
    result["provenance"] = scoring.provenance(config_hash(s.as_config("generate", "evaluate", "seed")))
    scoring.write_json(snakemake.output[0], result)
