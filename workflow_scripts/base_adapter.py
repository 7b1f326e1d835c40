"""Rule base_adapter: a LoRA adapter whose B matrices are all zero, so that base + adapter merges
to exactly the base's weights. The base-only calibration row then runs the generate rule's own
script unchanged (same windows, sampling and seeds as the candidates), with this as its adapter."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo.lora import save_adapter, wrap  # noqa: E402
from jazz_solo.model import load_base  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
model = wrap(load_base(snakemake.input.base), {"r": 1, "alpha": 1.0, "dropout": 0.0, "target_modules": ["q_proj"]}, 0)
zero_b = [p for name, p in model.named_parameters() if "lora_B" in name]
assert zero_b and all(torch.count_nonzero(p) == 0 for p in zero_b), "peft no longer starts LoRA B at zero"
save_adapter(model, snakemake.output[0], snakemake.input.base)
logging.info("zero adapter for %s", snakemake.input.base)
