# Data stage: music21 demo corpus -> MIDI (demo_midi), parse/quarantine/split (ingest),
# role split + windows + transpositions per split_pitch (tokenize). DESIGN §1-2.
include: "data_functions.smk"


rule demo_midi:
    output:
        directory(f"{RESULTS}/demo_midi/{{collection}}"),
    params:
        pieces=demo_count,
    log:
        f"{RESULTS}/logs/demo_midi/{{collection}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/demo_midi/{{collection}}.tsv"
    threads: 8
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/demo_midi.py"


rule ingest:
    input:
        INGEST_INPUTS,
    output:
        pieces=f"{DATA_DIR}/pieces.tsv",
        quarantine=f"{DATA_DIR}/quarantine.tsv",
    params:
        corpus=config["data"]["corpus"],
        target=config["data"]["target"],
        split_ratios=config["data"]["split_ratios"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/ingest.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest.tsv"
    threads: 8
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/ingest.py"


rule tokenize:
    input:
        pieces=f"{DATA_DIR}/pieces.tsv",
    output:
        npz=expand(f"{DATA_SET_DIR}/{{name}}.npz", name=DATA_SETS, allow_missing=True),
        index=expand(f"{DATA_SET_DIR}/{{name}}.index.tsv", name=DATA_SETS, allow_missing=True),
        summary=f"{DATA_SET_DIR}/dataset_summary.json",
    params:
        data=tokenize_data_config,
    log:
        f"{RESULTS}/logs/tokenize/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenize/{DATA_PATTERN}.tsv"
    threads: 8
    conda:
        "../envs/data.yaml"
    script:
        "../workflow_scripts/tokenize.py"


FINAL_TARGETS.extend(
    f"{DATA_DIR}/{inst}/{name}"
    for inst in instances("data")
    for name in ["dataset_summary.json"] + [f"{s}.npz" for s in DATA_SETS] + [f"{s}.index.tsv" for s in DATA_SETS]
)
