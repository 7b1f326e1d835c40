# Generation: for each candidate (data/train/gen settings), every held-out target piece's
# conditioning hand is windowed as in training and a solo is sampled window by window
# (KV cache, grammar mask, num_samples per piece as one batch). DESIGN §2-§3.
include: "generate_functions.smk"


rule generate:
    input:
        adapter=gen_adapter_dir,
        pieces=f"{DATA_DIR}/pieces.tsv",
    output:
        samples=directory(f"{GEN_DIR}/samples"),
        jsonl=f"{GEN_DIR}/samples.jsonl",
    params:
        generate=gen_settings,
        data=gen_window_settings,
    log:
        f"{RESULTS}/logs/generate/{GEN_PATTERN}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate/{GEN_PATTERN}.tsv"
    # One thread: decoding is one token at a time, bound by per-op overhead, not arithmetic; with 2
    # threads on a busy 2-core box a demo-size step took 57 ms instead of 1.3 ms (thread hand-offs).
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/generate.py"


FINAL_TARGETS.extend(f"{RESULTS}/gen/{inst}/samples.jsonl" for inst in instances("gen"))
