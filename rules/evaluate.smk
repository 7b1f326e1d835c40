# Evaluation (docs/architecture.md#metrics): the real reference and the target's training phrases
# (copy check) once per data instance, then metrics.json per candidate.


rule reference:
    input:
        pieces=paths.file("pieces"),
    output:
        paths.file("reference"),
    log:
        paths.log("evaluate/reference", "data"),
    benchmark:
        paths.benchmark("reference", "data")
    conda:
        "../envs/eval.yaml"
    params:
        # the generated samples cover the first max_seconds of each test piece: cap the same way
        max_seconds=SETTINGS.generate.max_seconds,
        evaluate=config["evaluate"],
    script:
        "../workflow_scripts/reference.py"


rule train_phrases:
    input:
        pieces=paths.file("pieces"),
    output:
        paths.file("train_phrases"),
    log:
        paths.log("evaluate/train_phrases", "data"),
    conda:
        "../envs/eval.yaml"
    script:
        "../workflow_scripts/train_phrases.py"


rule evaluate:
    input:
        jsonl=paths.file("samples_jsonl"),
        samples=paths.file("samples"),
        reference=paths.file("reference"),
        phrases=rules.train_phrases.output[0],
    output:
        paths.file("metrics"),
    log:
        paths.log("evaluate", "gen"),
    benchmark:
        paths.benchmark("evaluate", "gen")
    conda:
        "../envs/eval.yaml"
    params:
        evaluate=config["evaluate"],
    script:
        "../workflow_scripts/evaluate.py"
