# Generation: for each candidate (data/train/gen settings), every held-out target piece's
# conditioning hand is windowed as in training and a solo is sampled window by window
# (KV cache, grammar mask, num_samples per piece as one batch). docs/architecture.md#generation


rule generate:
    input:
        adapter=gen_adapter_dir,
        pieces=paths.file("pieces"),
    output:
        samples=directory(paths.file("samples")),
        jsonl=paths.file("samples_jsonl"),
    log:
        paths.log("generate", "gen"),
    benchmark:
        paths.benchmark("generate", "gen")
    conda:
        "../envs/generate.yaml"
    # One thread: decoding is one token at a time, bound by per-op overhead, not arithmetic; with 2
    # threads on a busy 2-core box a demo-size step took 57 ms instead of 1.3 ms (thread hand-offs).
    threads: 1
    resources:
        gpu=1,
    params:
        generate=gen_settings,
        data=gen_window_settings,
    script:
        "../workflow_scripts/generate.py"
