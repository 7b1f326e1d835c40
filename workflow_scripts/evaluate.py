"""Rule evaluate: metrics.json of one generated candidate against the reference, with the copy
check against the target's training pieces (thin adapter)."""
import logging
import sys

from jazz_solo import calibration, copycheck, evaluate, sweep

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
candidate = dict(snakemake.wildcards)  # the candidate's settings
candidate_config = sweep.resolve(snakemake.config, candidate)
try:
    result = evaluate.evaluate_samples(
        snakemake.input.jsonl,
        snakemake.input.samples,
        evaluate.load_reference(snakemake.input.reference),
        params=candidate,
        split_pitch=int(snakemake.wildcards.split_pitch),
        threshold_ms=snakemake.params.evaluate.get("dead_air_threshold_ms", 180),
        prov=evaluate.provenance(evaluate.candidate_hash(candidate_config)),
    )
except ValueError as exc:  # a broken reference or sample record: one line naming the file, also in the log
    logging.error("%s", exc)
    sys.exit(f"jazz-solo evaluate: {exc}")
calibration.add_copy_check(result, copycheck.load_index(snakemake.input.phrases), int(snakemake.wildcards.split_pitch))
evaluate.write_json(snakemake.output[0], result)
logging.info("status %s, realism_distance %s, longest run shared with training %s notes",
             result["status"], result["realism_distance"], result["summary"].get("max_copy_run"))
