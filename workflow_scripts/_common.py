"""What every workflow script shares; each starts with ``from _common import job`` (snakemake puts
this folder on the script's sys.path).

Importing it puts this checkout's ``jazz_solo`` package first on sys.path (also in conda envs,
where the package is not installed). :func:`job` wraps a script's body:

* the rule's log file (``snakemake.log[0]``) gets the logging records *and* everything written to
  stderr, Python's and the C libraries' alike (tqdm bars, warnings, torch messages), as in
  snakemake-workflows/rna-seq-star-deseq2;
* ``torch_threads``: torch's intra-op threads, the rule's ``threads`` unless a number is given;
* an error of the ``errors`` types ends the job with one line, ``jazz-solo <rule>: <message>``, on
  the console and in the log, instead of a traceback; any other error keeps its traceback, in
  the log as well.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FORMAT = "%(asctime)s %(levelname)s %(message)s"
ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


class Job:
    """The running script: its snakemake object and the console (the job's stderr before redirection)."""

    def __init__(self, snakemake: Any, console: Any) -> None:
        self.snakemake = snakemake
        self.console = console

    @property
    def name(self) -> str:
        return f"jazz-solo {self.snakemake.rule}"

    @property
    def settings(self):
        """This job's typed settings: the config with the job's sweep wildcards applied."""
        from jazz_solo import sweep
        from jazz_solo.settings import Settings

        return Settings.from_config(sweep.resolve(self.snakemake.config, dict(self.snakemake.wildcards)))

    def winner(self) -> dict[str, Any]:
        """What the rules after select_best start from (their ``unpack(winner_inputs)``): the
        winner's ``settings`` (``params.sections`` with its wildcards written in), its ``selection``
        (selection.json), its ``adapter_dir`` and the ``pieces_tsv``."""
        import json

        from jazz_solo import sweep
        from jazz_solo.settings import Settings

        smk = self.snakemake
        selection = json.loads(Path(smk.input.selection).read_text())
        settings = Settings.from_config(sweep.resolve(smk.params.sections, selection["params"]))
        return {"settings": settings, "selection": selection,
                "adapter_dir": smk.input.adapter, "pieces_tsv": smk.input.pieces}

    def say(self, message: str) -> None:
        """One line on the console (snakemake's output) and in the log."""
        logging.warning("%s", message)
        print(f"{self.name}: {message}", file=self.console, flush=True)


@contextlib.contextmanager
def job(
    snakemake: Any,
    errors: tuple[type[BaseException], ...] = ERRORS,
    torch_threads: bool | int = False,
) -> Iterator[Job]:
    """Run a rule's script body with its log, threads and one-line errors (see the module doc)."""
    log_file = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 - closed below
    console = os.fdopen(os.dup(2), "w", buffering=1)
    saved_fd, saved_stderr = os.dup(2), sys.stderr
    sys.stderr.flush()
    os.dup2(log_file.fileno(), 2)
    sys.stderr = log_file
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    if torch_threads is not False:
        import torch

        torch.set_num_threads(snakemake.threads if torch_threads is True else int(torch_threads))
    running = Job(snakemake, console)
    try:
        yield running
    except errors as exc:
        logging.error("%s", exc)
        print(f"{running.name}: {exc}", file=console, flush=True)
        raise SystemExit(1) from None
    except Exception:  # unexpected: the traceback goes to the log too (and to the console, as usual)
        logging.exception("unexpected error")
        raise
    finally:
        root.removeHandler(handler)
        sys.stderr = saved_stderr
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        log_file.close()
        console.close()
