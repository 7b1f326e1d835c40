"""Rule base_adapter: a LoRA adapter whose B matrices are all zero, so that base + adapter merges
to exactly the base's weights. The base-only calibration row then runs the generate rule's own
script unchanged (same windows, sampling and seeds as the candidates), with this as its adapter."""
import logging

import torch
from _common import job

from jazz_solo.training.lora import save_adapter, wrap
from jazz_solo.training.model import load_base
from jazz_solo.settings import LoraSettings

# The smallest adapter, the same whatever the config says (its B is zero: it changes nothing).
ZERO_ADAPTER = LoraSettings.from_config({"r": 1, "alpha": 1.0, "dropout": 0.0, "target_modules": ["q_proj"]})

with job(snakemake):
    model = wrap(load_base(snakemake.input.base), ZERO_ADAPTER, 0)
    zero_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert zero_b and all(torch.count_nonzero(p) == 0 for p in zero_b), "peft no longer starts LoRA B at zero"
    save_adapter(model, snakemake.output[0], snakemake.input.base)
    logging.info("zero adapter for %s", snakemake.input.base)
