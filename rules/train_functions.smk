# Input and params functions of the training stage (rules in train.smk; kept apart for `snakemake --lint`).
from jazz_solo.model import check_data, recorded_base_data

BASE_CHECKPOINT = config["model"].get("checkpoint")
if BASE_CHECKPOINT and not Path(BASE_CHECKPOINT, "config.json").is_file():
    # One line before any job runs, instead of a failing job later.
    sys.exit(f"jazz-solo: config key 'model.checkpoint': {BASE_CHECKPOINT} has no config.json (not a base model directory)")
if BASE_CHECKPOINT:
    try:  # its vocabulary and split pitch must be the data's: one line now, not a failed job later
        check_data(recorded_base_data(BASE_CHECKPOINT), config["data"], f"config key 'model.checkpoint' {BASE_CHECKPOINT}")
    except ValueError as err:
        sys.exit(f"jazz-solo: {err}")

# The model settings that shape a pretrained base (the checkpoint key only selects one).
MODEL_SETTINGS = {k: v for k, v in config["model"].items() if k != "checkpoint"}
BASE_DIR = f"{RESULTS}/base/{DATA_PATTERN}"
TRAIN_DIR = f"{RESULTS}/train/{TRAIN_PATTERN}"


def base_model_dir(wildcards):
    """The base model of a LoRA job: the user's model.checkpoint when set, else the pretrained one."""
    if BASE_CHECKPOINT:
        return BASE_CHECKPOINT
    return f"{RESULTS}/base/{sweep.instance('data', wildcards)}/model"


def lora_settings(wildcards):
    """The lora section with this job's sweep wildcards applied (all of it, so any change reruns)."""
    return stage_config(wildcards)["lora"]
