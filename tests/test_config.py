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
        ({"data": {"hop_seconds": 9.0}}, "data.hop_seconds"),
        ({"data": {"max_cond_tokens": 510}}, "data.max_cond_tokens"),
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
