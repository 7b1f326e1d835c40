"""Subcommands of ``python -m jazz_solo``; each module defines ``register(subparsers)``.

One convention for all of them: ``-o/--output`` names what a command writes (older spellings such
as ``--out`` still work, unlisted in ``--help``), and ``--config YAML`` (repeatable) merges config
overrides over config.yaml, as ``snakemake --configfile`` does; defaults come from the settings
layer (:mod:`jazz_solo.settings`, i.e. the schema), never from the command.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, action="append", default=[], metavar="YAML",
                   help="config overrides merged over config.yaml (repeatable)")


def add_output(p: argparse.ArgumentParser, help: str, *aliases: str, required: bool = False) -> None:
    """``-o/--output``; ``aliases`` (older spellings) set the same value but stay out of ``--help``."""
    # A group, so that "required" is met by either spelling and argparse names only -o/--output.
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("-o", "--output", dest="output", type=Path, help=help)
    for alias in aliases:
        group.add_argument(alias, dest="output", type=Path, help=argparse.SUPPRESS)
