# Input and params functions of the data stage (rules in data.smk; kept apart for `snakemake --lint`).
from jazz_solo.ingest import expand_entry

DATA_SETS = [f"{source}_{split}" for source in SOURCES for split in SPLITS]
DATA_SET_DIR = f"{DATA_DIR}/{DATA_PATTERN}"


def _ingest_inputs():
    """Every configured MIDI file (demo folders: the demo_midi output folder itself)."""
    files = []
    for key in ("corpus", "target"):
        for entry in config["data"][key]:
            demo = [f"{RESULTS}/demo_midi/{c}" for c in demo_collections() if f"{RESULTS}/demo_midi/{c}" in entry]
            files += demo or [path for path, _, _ in expand_entry(entry, f"data.{key}")]
    return sorted(set(files))


try:
    # Resolved once while the workflow loads: a path matching nothing is one line, before any job.
    INGEST_INPUTS = _ingest_inputs()
except ValueError as err:
    sys.exit(f"jazz-solo: {err}")


def demo_count(wildcards):
    """How many pieces of a music21 collection the demo converts (config demo.collections)."""
    return config["demo"]["collections"][wildcards.collection]


def tokenize_data_config(wildcards):
    """The data section with this job's split_pitch applied."""
    return stage_config(wildcards)["data"]
