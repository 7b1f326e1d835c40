# Evaluation (DESIGN §4): the real reference and the target's training phrases (copy check) once
# per split_pitch, then metrics.json per candidate.
EVAL_LOGS = f"{RESULTS}/logs/evaluate"


rule reference:
    input:
        pieces=f"{DATA_DIR}/pieces.tsv",
    output:
        f"{DATA_DIR}/{DATA_PATTERN}/reference.json",
    params:
        # the generated samples cover the first max_seconds of each test piece: cap the same way
        max_seconds=config["generate"]["max_seconds"],
        evaluate=config["evaluate"],
    log:
        f"{EVAL_LOGS}/reference/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference/{DATA_PATTERN}.tsv"
    conda:
        "../envs/eval.yaml"
    script:
        "../workflow_scripts/reference.py"


rule train_phrases:
    input:
        pieces=f"{DATA_DIR}/pieces.tsv",
    output:
        f"{DATA_DIR}/{DATA_PATTERN}/target_train_phrases.json",
    log:
        f"{EVAL_LOGS}/train_phrases/{DATA_PATTERN}.log",
    conda:
        "../envs/eval.yaml"
    script:
        "../workflow_scripts/train_phrases.py"


rule evaluate:
    input:
        jsonl=f"{RESULTS}/gen/{GEN_PATTERN}/samples.jsonl",
        samples=f"{RESULTS}/gen/{GEN_PATTERN}/samples",
        reference=f"{DATA_DIR}/{DATA_PATTERN}/reference.json",
        phrases=rules.train_phrases.output[0],
    output:
        f"{RESULTS}/gen/{GEN_PATTERN}/metrics.json",
    params:
        evaluate=config["evaluate"],
    log:
        f"{EVAL_LOGS}/{GEN_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{GEN_PATTERN}.tsv"
    conda:
        "../envs/eval.yaml"
    script:
        "../workflow_scripts/evaluate.py"


FINAL_TARGETS.extend(f"{RESULTS}/gen/{c}/metrics.json" for c in instances("gen"))
