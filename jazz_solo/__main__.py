"""``python -m jazz_solo <command>``: every module in jazz_solo.commands registers one subcommand."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jazz-solo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"jazz-solo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # a helper module of the commands (_checks), not one of them
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)  # each sets its handler with parser.set_defaults(func=...)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:  # OSError: a path the OS refuses (permissions, a folder as a file)
        # Bad input: one line naming the file or key, no traceback.
        print(f"jazz-solo {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
