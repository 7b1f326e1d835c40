# Training stage: base pretraining on the corpus windows (pretrain), skipped when
# model.checkpoint names a user-supplied base, and peft LoRA on the target windows (train_lora).
# docs/architecture.md#training. A killed job resumes from <output folder>/checkpoint/
# (deliberately not an output, so snakemake keeps it); outputs are written once training has finished.


rule pretrain:
    input:
        train=paths.window_set("corpus_train"),
        val=paths.window_set("corpus_val"),
    output:
        model=directory(paths.file("base_model")),
        log_csv=paths.file("base_log"),
        plot=paths.file("base_loss"),
    log:
        paths.log("pretrain", "data"),
    benchmark:
        paths.benchmark("pretrain", "data")
    conda:
        "../envs/train.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
    params:
        model=MODEL_SETTINGS,
        pretrain=config["pretrain"],
        seed=SETTINGS.seed,
    script:
        "../workflow_scripts/pretrain.py"


rule train_lora:
    input:
        base=base_model_dir,
        train=paths.window_set("target_train"),
        train_index=paths.window_index("target_train"),  # each window's transposition (lora.transpose)
        val=paths.window_set("target_val"),
    output:
        adapter=directory(paths.file("adapter")),
        log_csv=paths.file("train_log"),
        plot=paths.file("train_loss"),
        eval=paths.file("eval"),
    log:
        paths.log("train_lora", "train"),
    benchmark:
        paths.benchmark("train_lora", "train")
    conda:
        "../envs/train.yaml"
    threads: workflow.cores
    resources:
        gpu=1,
    params:
        lora=lora_settings,
        seed=SETTINGS.seed,
    script:
        "../workflow_scripts/train_lora.py"
