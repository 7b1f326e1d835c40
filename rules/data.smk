# Data stage: music21 demo corpus -> MIDI (demo_midi), parse/quarantine/split (ingest),
# role split + windows + transpositions per data instance (tokenize). docs/architecture.md#data


rule demo_midi:
    output:
        directory(paths.file("demo_midi")),
    log:
        paths.log("demo_midi/{collection}"),
    benchmark:
        paths.benchmark("demo_midi/{collection}")
    conda:
        "../envs/data.yaml"
    threads: 8
    params:
        pieces=demo_count,
    script:
        "../workflow_scripts/demo_midi.py"


rule ingest:
    input:
        INGEST_INPUTS,
    output:
        pieces=paths.file("pieces"),
        quarantine=paths.file("quarantine"),
    log:
        paths.log("ingest"),
    benchmark:
        paths.benchmark("ingest")
    conda:
        "../envs/data.yaml"
    threads: 8
    params:
        corpus=SETTINGS.data.corpus,
        target=SETTINGS.data.target,
        split_ratios=SETTINGS.data.split_ratios,
        seed=SETTINGS.seed,
    script:
        "../workflow_scripts/ingest.py"


rule tokenize:
    input:
        pieces=paths.file("pieces"),
    output:
        npz=[paths.window_set(name) for name in paths.DATA_SETS],
        index=[paths.window_index(name) for name in paths.DATA_SETS],
        summary=paths.file("dataset_summary"),
    log:
        paths.log("tokenize", "data"),
    benchmark:
        paths.benchmark("tokenize", "data")
    conda:
        "../envs/data.yaml"
    threads: 8
    params:
        data=tokenize_data_config,
    script:
        "../workflow_scripts/tokenize.py"
