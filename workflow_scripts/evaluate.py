"""Rule evaluate: metrics.json of one generated candidate against the reference, with the copy
check against the target's training pieces (thin adapter)."""
import logging

from _common import job

from jazz_solo.evaluation import calibration, copycheck, scoring

with job(snakemake, errors=(ValueError,)) as run:  # a broken reference or sample record: one line naming the file
    candidate = dict(snakemake.wildcards)  # the candidate's settings
    s = run.settings
    result = scoring.evaluate_samples(
        snakemake.input.jsonl,
        snakemake.input.samples,
        scoring.load_reference(snakemake.input.reference),
        params=candidate,
        split_pitch=s.data.split_pitch,
        threshold_ms=s.evaluate.dead_air_threshold_ms,
        prov=scoring.provenance(s.candidate_hash()),
    )
    calibration.add_copy_check(result, copycheck.load_index(snakemake.input.phrases), s.data.split_pitch)
    scoring.write_json(snakemake.output[0], result)
    logging.info("status %s, realism_distance %s, longest run shared with training %s notes",
                 result["status"], result["realism_distance"], result["summary"].get("max_copy_run"))
