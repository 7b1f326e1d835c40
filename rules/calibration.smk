# Calibration rows beside the candidates (DESIGN §4, jazz_solo/calibration.py): real held-out
# target pieces, corpus artists' pieces and random notes (rule calibration), and the base alone
# over the same comping: the generate and evaluate rules themselves, with a zero adapter
# (base + adapter == base, exactly) and the config's generate settings (not the sweep's).
CALIB_DIR = f"{RESULTS}/calibration/{DATA_PATTERN}"
BASE_ONLY_DIR = f"{CALIB_DIR}/base_only"


rule calibration:
    input:
        pieces=f"{DATA_DIR}/pieces.tsv",
        reference=f"{DATA_DIR}/{DATA_PATTERN}/reference.json",
        phrases=rules.train_phrases.output[0],
    output:
        f"{CALIB_DIR}/calibration.json",
    params:
        generate=config["generate"],
        evaluate=config["evaluate"],
        seed=config["seed"],
    log:
        f"{EVAL_LOGS}/calibration/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/calibration/{DATA_PATTERN}.tsv"
    conda:
        "../envs/eval.yaml"
    script:
        "../workflow_scripts/calibration.py"


rule base_adapter:
    input:
        base=base_model_dir,
    output:
        directory(f"{BASE_ONLY_DIR}/zero_adapter"),
    log:
        f"{RESULTS}/logs/base_adapter/{DATA_PATTERN}.log",
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/base_adapter.py"


use rule generate as generate_base with:
    input:
        adapter=rules.base_adapter.output[0],
        pieces=f"{DATA_DIR}/pieces.tsv",
    output:
        samples=directory(f"{BASE_ONLY_DIR}/samples"),
        jsonl=f"{BASE_ONLY_DIR}/samples.jsonl",
    log:
        f"{RESULTS}/logs/generate_base/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate_base/{DATA_PATTERN}.tsv"


use rule evaluate as evaluate_base with:
    input:
        jsonl=rules.generate_base.output.jsonl,
        samples=rules.generate_base.output.samples,
        reference=f"{DATA_DIR}/{DATA_PATTERN}/reference.json",
        phrases=rules.train_phrases.output[0],
    output:
        f"{BASE_ONLY_DIR}/metrics.json",
    log:
        f"{EVAL_LOGS}/base_only/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_base/{DATA_PATTERN}.tsv"


FINAL_TARGETS.extend(
    f"{RESULTS}/calibration/{inst}/{name}" for inst in instances("data") for name in ("calibration.json", "base_only/metrics.json")
)


rule calibration_chart:
    input:
        f"{RESULTS}/sweep/leaderboard.tsv",
    output:
        report(f"{RESULTS}/report/calibration.png", caption="../report/calibration.rst", category="1. Sweep"),
    params:
        swept=sorted(config.get("sweep", {})),
    log:
        f"{RESULTS}/logs/select/calibration_chart.log",
    conda:
        "../envs/select.yaml"
    script:
        "../workflow_scripts/calibration_chart.py"


FINAL_TARGETS.append(f"{RESULTS}/report/calibration.png")
