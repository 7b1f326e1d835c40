# Sweep aggregation: leaderboard of every candidate named by the config -> best candidate
# (checkpoint) -> revalidation on new seeds -> export bundle + archive -> report figures.
#
# The winner is only known at run time, so select_best is a checkpoint: the rules after it
# take the winner's adapter, base model and reference as real inputs (input functions below),
# which makes them rerun when the winner changes or its adapter is retrained, and never otherwise.
include: "select_functions.smk"


rule leaderboard:
    input:
        metrics=candidate_metrics(),
        evals=[f"{RESULTS}/train/{t}/eval.json" for t in instances("train")],
        adapters=[f"{RESULTS}/train/{t}/adapter" for t in instances("train")],
        calibration=[f"{RESULTS}/calibration/{d}/calibration.json" for d in instances("data")],
        base_only=[f"{RESULTS}/calibration/{d}/base_only/metrics.json" for d in instances("data")],
    output:
        tsv=report(
            f"{SWEEP_DIR}/leaderboard.tsv",
            caption="../report/leaderboard.rst",
            category="1. Sweep",
            labels={"table": "leaderboard"},
        ),
        md=f"{SWEEP_DIR}/leaderboard.md",
    params:
        candidates=instances("gen"),
        train_candidates=instances("train"),
        split_pitches=[combo["split_pitch"] for combo in sweep.combinations(config, "data")],
        rule=config["select"]["rule"],
        min_notes=config["select"]["min_notes"],
    log:
        f"{SELECT_LOGS}/leaderboard.log",
    conda:
        "../envs/select.yaml"
    script:
        "../workflow_scripts/leaderboard.py"


checkpoint select_best:
    input:
        tsv=rules.leaderboard.output.tsv,
    output:
        f"{BEST_DIR}/selection.json",
    params:
        rule=config["select"]["rule"],
        min_notes=config["select"]["min_notes"],
    log:
        f"{SELECT_LOGS}/select_best.log",
    conda:
        "../envs/select.yaml"
    script:
        "../workflow_scripts/select_best.py"


rule revalidate:
    input:
        unpack(winner_inputs),
    output:
        samples=directory(f"{BEST_DIR}/reval/samples"),
        jsonl=f"{BEST_DIR}/reval/samples.jsonl",
        metrics=f"{BEST_DIR}/reval/metrics.json",
    params:
        sections=candidate_sections(),
        num_samples=config["select"]["num_samples_reval"],
    threads: 2
    resources:
        gpu=1,
    log:
        f"{SELECT_LOGS}/revalidate.log",
    benchmark:
        f"{RESULTS}/benchmarks/revalidate.tsv"
    conda:
        "../envs/select.yaml"
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
        adapter=directory(f"{BEST_DIR}/adapter"),
        base=directory(f"{BEST_DIR}/base_model"),
        bundle=f"{BEST_DIR}/bundle.json",
        best=report(f"{BEST_DIR}/best.json", caption="../report/best.rst", category="2. Best candidate"),
        archive=f"{BEST_DIR}/archive.tgz",
    params:
        sections=candidate_sections(),
    log:
        f"{SELECT_LOGS}/export.log",
    conda:
        "../envs/select.yaml"
    script:
        "../workflow_scripts/export.py"


rule report_figures:
    input:
        unpack(winner_inputs),
        reval_metrics=rules.revalidate.output.metrics,
        reval_jsonl=rules.revalidate.output.jsonl,
        reval_samples=rules.revalidate.output.samples,
        train_logs=train_logs(),
    output:
        piano_rolls=report(
            f"{REPORT_DIR}/piano_rolls.png", caption="../report/piano_rolls.rst", category="2. Best candidate"
        ),
        distributions=report(
            f"{REPORT_DIR}/metric_distributions.png",
            caption="../report/metric_distributions.rst",
            category="2. Best candidate",
        ),
        curves=report(
            f"{REPORT_DIR}/training_curves.png", caption="../report/training_curves.rst", category="3. Training"
        ),
    params:
        train_candidates=instances("train"),
        swept=sorted(config.get("sweep", {})),
        max_rolls=4,
    log:
        f"{SELECT_LOGS}/report_figures.log",
    conda:
        "../envs/select.yaml"
    script:
        "../workflow_scripts/report_figures.py"


FINAL_TARGETS.extend(
    [
        rules.leaderboard.output.md,
        rules.export.output.archive,
        rules.export.output.best,
        *rules.report_figures.output,
    ]
)
