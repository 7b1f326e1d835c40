"""Selection stage (rules/select.smk): the leaderboard and its honesty flags, the winner,
its revalidation on new seeds, the exported bundle and the report's figures
(docs/architecture.md#selection)."""
