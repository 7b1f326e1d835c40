"""Generation stage (rules/generate.smk): solos sampled over held-out comping, window by window
or causally, through a KV cache under the grammar mask (docs/architecture.md#generation)."""
