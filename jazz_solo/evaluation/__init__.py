"""Evaluation stage (rules/evaluate.smk, rules/calibration.smk): per-sample metrics, the real
reference and realism_distance, the calibration rows and the copy check (docs/architecture.md#metrics)."""
