"""Data stage (rules/data.smk): configured MIDI (or the music21 demo corpus) -> pieces.tsv ->
window sets of one data instance. The token format (tokens, durations, vocab) and the sequence
formats (windows, causal_sequence) are defined here (docs/architecture.md#token-format)."""
