"""Listening (rules/listen.smk, ``python -m jazz_solo render``): MIDI rendered to audio, and the
report's audio previews of the real, base-only and best solos."""
