# Sweep aggregation: leaderboard of every candidate named by the config -> best candidate
# (checkpoint) -> revalidation on new seeds -> export bundle + archive -> report figures.
#
# The winner is only known at run time, so select_best is a checkpoint: the rules after it
# take the winner's adapter, base model and reference as real inputs (winner_inputs, rules/common.smk),
# which makes them rerun when the winner changes or its adapter is retrained, and never otherwise.


rule leaderboard:
    input:
        metrics=[paths.file("metrics", g) for g in instances("gen")],
        evals=[paths.file("eval", t) for t in instances("train")],
        adapters=[paths.file("adapter", t) for t in instances("train")],
        calibration=[paths.file("calibration", d) for d in instances("data")],
        base_only=[paths.file("base_only_metrics", d) for d in instances("data")],
    output:
        tsv=report(
            paths.file("leaderboard_tsv"),
            caption="../report/leaderboard.rst",
            category="1. Sweep",
            labels={"table": "leaderboard"},
        ),
        md=paths.file("leaderboard_md"),
    log:
        paths.log("select/leaderboard"),
    conda:
        "../envs/select.yaml"
    params:
        candidates=instances("gen"),
        train_candidates=instances("train"),
        split_pitches=[combo["split_pitch"] for combo in sweep.combinations(config, "data")],
        rule=SETTINGS.select.rule,
        min_notes=SETTINGS.select.min_notes,
    script:
        "../workflow_scripts/leaderboard.py"


checkpoint select_best:
    input:
        tsv=rules.leaderboard.output.tsv,
    output:
        paths.file("selection"),
    log:
        paths.log("select/select_best"),
    conda:
        "../envs/select.yaml"
    params:
        rule=SETTINGS.select.rule,
        min_notes=SETTINGS.select.min_notes,
    script:
        "../workflow_scripts/select_best.py"


rule revalidate:
    input:
        unpack(winner_inputs),
    output:
        samples=directory(paths.file("reval_samples")),
        jsonl=paths.file("reval_jsonl"),
        metrics=paths.file("reval_metrics"),
    log:
        paths.log("select/revalidate"),
    benchmark:
        paths.benchmark("revalidate")
    conda:
        "../envs/select.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        sections=candidate_sections(),
        num_samples=SETTINGS.select.num_samples_reval,
    script:
        "../workflow_scripts/revalidate.py"


rule export:
    input:
        unpack(winner_inputs),
        reval_metrics=rules.revalidate.output.metrics,
        reval_samples=rules.revalidate.output.samples,
        reval_jsonl=rules.revalidate.output.jsonl,
        leaderboard_tsv=rules.leaderboard.output.tsv,
        leaderboard_md=rules.leaderboard.output.md,
    output:
        adapter=directory(paths.file("best_adapter")),
        base=directory(paths.file("best_base_model")),
        bundle=paths.file("bundle"),
        best=report(paths.file("best_json"), caption="../report/best.rst", category="2. Best candidate"),
        archive=paths.file("archive"),
    log:
        paths.log("select/export"),
    conda:
        "../envs/select.yaml"
    params:
        sections=candidate_sections(),
    script:
        "../workflow_scripts/export.py"


rule report_figures:
    input:
        unpack(winner_inputs),
        reval_metrics=rules.revalidate.output.metrics,
        reval_jsonl=rules.revalidate.output.jsonl,
        reval_samples=rules.revalidate.output.samples,
        train_logs=[paths.file("train_log", t) for t in instances("train")],
    output:
        piano_rolls=report(
            paths.file("piano_rolls"),
            caption="../report/piano_rolls.rst",
            category="2. Best candidate",
        ),
        distributions=report(
            paths.file("metric_distributions"),
            caption="../report/metric_distributions.rst",
            category="2. Best candidate",
        ),
        curves=report(
            paths.file("training_curves"),
            caption="../report/training_curves.rst",
            category="3. Training",
        ),
    log:
        paths.log("select/report_figures"),
    conda:
        "../envs/select.yaml"
    params:
        train_candidates=instances("train"),
        swept=swept(),
        max_rolls=4,
    script:
        "../workflow_scripts/report_figures.py"
