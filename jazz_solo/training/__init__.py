"""Training stage (rules/train.smk): the base model pretrained on the corpus windows, and the
peft LoRA adapter trained on the target's (docs/architecture.md#training)."""
