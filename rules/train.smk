# Training stage: base pretraining on the corpus windows (pretrain), skipped when
# model.checkpoint names a user-supplied base, and peft LoRA on the target windows (train_lora).
# DESIGN §3. A killed job resumes from <output folder>/checkpoint/ (deliberately not an output,
# so snakemake keeps it); the outputs are only written once training has finished.
include: "train_functions.smk"


rule pretrain:
    input:
        train=f"{DATA_DIR}/{DATA_PATTERN}/corpus_train.npz",
        val=f"{DATA_DIR}/{DATA_PATTERN}/corpus_val.npz",
    output:
        model=directory(f"{BASE_DIR}/model"),
        log_csv=f"{BASE_DIR}/train_log.csv",
        plot=f"{BASE_DIR}/loss.png",
    params:
        model=MODEL_SETTINGS,
        pretrain=config["pretrain"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/pretrain/{DATA_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{DATA_PATTERN}.tsv"
    threads: workflow.cores
    resources:
        gpu=1,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/pretrain.py"


rule train_lora:
    input:
        base=base_model_dir,
        train=f"{DATA_DIR}/{DATA_PATTERN}/target_train.npz",
        val=f"{DATA_DIR}/{DATA_PATTERN}/target_val.npz",
    output:
        adapter=directory(f"{TRAIN_DIR}/adapter"),
        log_csv=f"{TRAIN_DIR}/train_log.csv",
        plot=f"{TRAIN_DIR}/loss.png",
        eval=f"{TRAIN_DIR}/eval.json",
    params:
        lora=lora_settings,
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/train_lora/{TRAIN_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_lora/{TRAIN_PATTERN}.tsv"
    threads: workflow.cores
    resources:
        gpu=1,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train_lora.py"


FINAL_TARGETS.extend(f"{RESULTS}/train/{inst}/eval.json" for inst in instances("train"))
