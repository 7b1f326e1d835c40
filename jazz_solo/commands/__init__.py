"""Subcommands of ``python -m jazz_solo``; each module defines ``register(subparsers)``."""
