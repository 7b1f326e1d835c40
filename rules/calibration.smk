# Calibration rows beside the candidates (docs/architecture.md#calibration, jazz_solo/evaluation/calibration.py):
# real held-out target pieces, corpus artists' pieces and random notes (rule calibration), and the
# base alone over the same comping: the generate and evaluate rules themselves, with a zero adapter
# (base + adapter == base, exactly) and the config's generate settings (not the sweep's).


rule calibration:
    input:
        pieces=paths.file("pieces"),
        reference=paths.file("reference"),
        phrases=rules.train_phrases.output[0],
    output:
        paths.file("calibration"),
    log:
        paths.log("evaluate/calibration", "data"),
    benchmark:
        paths.benchmark("calibration", "data")
    conda:
        "../envs/eval.yaml"
    params:
        generate=config["generate"],
        evaluate=config["evaluate"],
        seed=SETTINGS.seed,
    script:
        "../workflow_scripts/calibration.py"


rule base_adapter:
    input:
        base=base_model_dir,
    output:
        directory(paths.file("zero_adapter")),
    log:
        paths.log("base_adapter", "data"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/base_adapter.py"


use rule generate as generate_base with:
    input:
        adapter=rules.base_adapter.output[0],
        pieces=paths.file("pieces"),
    output:
        samples=directory(f"{paths.file('base_only')}/samples"),
        jsonl=f"{paths.file('base_only')}/samples.jsonl",
    log:
        paths.log("generate_base", "data"),
    benchmark:
        paths.benchmark("generate_base", "data")


use rule evaluate as evaluate_base with:
    input:
        jsonl=rules.generate_base.output.jsonl,
        samples=rules.generate_base.output.samples,
        reference=paths.file("reference"),
        phrases=rules.train_phrases.output[0],
    output:
        paths.file("base_only_metrics"),
    log:
        paths.log("evaluate/base_only", "data"),
    benchmark:
        paths.benchmark("evaluate_base", "data")


rule calibration_chart:
    input:
        paths.file("leaderboard_tsv"),
    output:
        report(paths.file("calibration_chart"), caption="../report/calibration.rst", category="1. Sweep"),
    log:
        paths.log("select/calibration_chart"),
    conda:
        "../envs/select.yaml"
    params:
        swept=swept(),
    script:
        "../workflow_scripts/calibration_chart.py"
