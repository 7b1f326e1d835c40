# Input and params functions of the generation stage (rule in generate.smk; kept apart for `snakemake --lint`).
GEN_DIR = f"{RESULTS}/gen/{GEN_PATTERN}"


def gen_adapter_dir(wildcards):
    """The adapter this candidate generates with: its train-stage wildcards' LoRA output."""
    return f"{RESULTS}/train/{sweep.instance('train', wildcards)}/adapter"


def gen_settings(wildcards):
    """The generate section with this job's sweep wildcards applied (all of it: any change reruns)."""
    return stage_config(wildcards)["generate"]


def gen_window_settings(wildcards):
    """The data settings generation must share with training: vocabulary, role split, window length."""
    data = stage_config(wildcards)["data"]
    return {k: data[k] for k in ("vocabulary", "sequence", "split_pitch", "window_seconds")}
