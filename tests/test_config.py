"""Config errors surface as one line naming the key, before any job; the workflow lints clean."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from jazz_solo.config import PROJECT_ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile")]


def dry_run(tmp_path, override: dict) -> subprocess.CompletedProcess:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(override))
    return subprocess.run([*SNAKEMAKE, "-n", "--directory", str(tmp_path), "--configfile", str(tmp_path / "bad.yaml")],
                          capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.parametrize(
    "override, key",
    [
        ({"data": {"window_seconds": "eight"}}, "data.window_seconds"),
        ({"data": {"hop_size": 4}}, "data.hop_size"),
        ({"lora": {"r": 0}}, "lora.r"),
        ({"data": {"corpus": ["no/such/folder"]}}, "data.corpus"),
        ({"data": {"vocabulary": "remi"}}, "data.vocabulary"),
        ({"generate": {"continuity_seconds": -1}}, "generate.continuity_seconds"),
        ({"generate": {"listening_guidance": "loud"}}, "generate.listening_guidance"),
        ({"data": {"hop_seconds": 9.0}}, "data.hop_seconds"),
        ({"data": {"max_cond_tokens": 510}}, "data.max_cond_tokens"),
        ({"lora": {"transpose": [1, -1]}}, "lora.transpose"),
        ({"data": {"transpose": [2, 5]}}, "lora.transpose"),  # the default [-1, 1] selects no stored key
        ({"model": {"checkpoint": "x"}, "sweep": {"vocabulary": ["duration", "performance"]}}, "sweep.vocabulary"),
    ],
)
def test_bad_config_fails_with_one_line_naming_the_key(tmp_path, override, key):
    proc = dry_run(tmp_path, override)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if key in line]
    assert len(lines) == 1 and lines[0].startswith("jazz-solo: config key"), output
    assert not (tmp_path / "results").exists()  # nothing ran


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 0 and "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


# Commands that write a file or folder; serve writes nothing (it answers on stdio, HTTP or MIDI ports).
WRITERS = {"evaluate", "generate", "leaderboard", "render"}


def test_every_command_has_one_cli_convention():
    """``--config`` (repeatable) on every command, ``-o/--output`` on every one that writes; the
    older spellings (--out, --tsv) still parse but are not offered in --help."""
    import argparse

    from jazz_solo.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == WRITERS | {"serve"}
    for name, parser in sub.choices.items():
        options = {s: a for a in parser._actions for s in a.option_strings}
        assert options["--config"].dest == "config" and isinstance(options["--config"], argparse._AppendAction), name
        assert ("-o" in options and options["-o"] is options["--output"]) == (name in WRITERS), name
        text = parser.format_help()
        assert "--out " not in text and "--tsv" not in text, name
    assert {s for a in sub.choices["generate"]._actions if a.dest == "output" for s in a.option_strings} >= {"--out"}
    assert {s for a in sub.choices["leaderboard"]._actions if a.dest == "output" for s in a.option_strings} >= {"--tsv"}
