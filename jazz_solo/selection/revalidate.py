"""Revalidation of the selected candidate: regenerate with more samples and *new* seeds, score again.

A sweep picks the best of N candidates on a few samples each, so the winner's sweep score is
optimistic (the winner's curse). Regenerating it on seeds it was never selected on gives an
honest estimate, written beside the sweep score in best.json.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation import scoring
from ..artifacts import atomic_write_text
from ..generation.generate import run_generate
from ..settings import Settings

log = logging.getLogger(__name__)

# Mixed into the generation seed so that revalidation seeds are a different stream from the
# sweep's (sample_seed(seed, piece, k) with the same seed would repeat the sweep's first samples).
REVAL_STREAM = 0x5EED_0002


def reval_seed(seed: int) -> int:
    """The base seed of the revalidation run, derived from (and different from) ``generate.seed``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, REVAL_STREAM])
    return int(state.generate_state(1)[0] & 0x7FFFFFFF)


def drop_timings(jsonl_path: str | Path) -> None:
    """Remove ``wall_s`` (machine speed, not music) from samples.jsonl: it goes into archive.tgz,
    which must be byte-identical for identical runs. The time is logged instead."""
    path = Path(jsonl_path)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    log.info("revalidation generation took %.1f s", sum(float(r.pop("wall_s", 0) or 0) for r in records))
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def sweep_seeds(metrics_json: str | Path) -> set[int]:
    """Seeds of the samples the candidate was selected on (its sweep metrics.json ``files``)."""
    data = json.loads(Path(metrics_json).read_text())
    return {int(r["seed"]) for r in data.get("files", []) if r.get("seed") is not None}


def revalidate(
    settings: Settings,
    selection: Mapping[str, Any],
    adapter_dir: str | Path,
    pieces_tsv: str | Path,
    reference_json: str | Path,
    sweep_metrics_json: str | Path,
    num_samples: int,
    samples_dir: str | Path,
    jsonl_path: str | Path,
) -> dict[str, Any]:
    """Generate ``num_samples`` per test piece from the winner (``settings`` resolved with its
    wildcards) on new seeds and return its metrics.json content (plus ``seeds``, ``num_samples``)."""
    s = settings
    generate = dataclasses.replace(s.generate, num_samples=int(num_samples), seed=reval_seed(s.generate.seed))
    lines = run_generate(adapter_dir, pieces_tsv, samples_dir, jsonl_path, generate, s.data)
    drop_timings(jsonl_path)
    seeds = sorted({int(line["seed"]) for line in lines})
    reused = set(seeds) & sweep_seeds(sweep_metrics_json)
    if reused:  # 31-bit seeds from different streams: practically never, but say so if it happens
        log.warning("revalidation reuses %d sweep seed(s): %s", len(reused), sorted(reused))
    result = scoring.evaluate_samples(
        jsonl_path,
        samples_dir,
        scoring.load_reference(reference_json),
        params=selection["params"],
        split_pitch=s.data.split_pitch,
        threshold_ms=float(s.evaluate.dead_air_threshold_ms),
        prov=scoring.provenance(s.candidate_hash()),
    )
    result["candidate"] = selection["candidate"]
    result["num_samples"] = len(lines)
    result["seeds"] = seeds
    result["new_seeds"] = not reused
    log.info(
        "revalidated %s on %d samples: status %s, realism_distance %s (sweep: %s)",
        selection["candidate"], len(lines), result["status"], result["realism_distance"],
        selection["metrics"].get("realism_distance"),
    )
    return result
