# jazz-solo: raw MIDI -> role split -> windows -> base model -> LoRA -> solos -> metrics -> best.
# Rules live in rules/*.smk (shared functions: rules/common.smk; paths: jazz_solo/paths.py); the work
# is done by the jazz_solo package via thin workflow_scripts/ (docs/architecture.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/generate.smk"
include: "rules/evaluate.smk"
include: "rules/calibration.smk"
include: "rules/select.smk"
include: "rules/listen.smk"


rule all:
    default_target: True
    input:
        final_targets(),
