"""Results that readers depend on: written atomically, verified before use, set aside when corrupt.

A file written in place and killed half-way (or truncated later) still has a fresh mtime, so
Snakemake calls it up to date and every reader downstream fails or, worse, trusts it. Hence:

* :func:`atomic_write_text` / :func:`atomic_write_bytes`: temp file in the same folder + ``os.replace``.
* ``verify_*``: cheap structural checks (safetensors header and byte count; the JSON keys readers
  use) that catch truncation without loading any weights.
* :func:`set_aside_corrupt`: run when the workflow loads; a corrupt result of :data:`SCANS` is
  renamed to ``*.corrupt`` with a warning, so Snakemake sees the output missing and rebuilds it.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import paths

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) ...
os.umask(_UMASK)  # ... and put back: atomic writes get the usual 0644-style mode, not mkstemp's 0600


class ArtifactError(ValueError):
    """A result file that is missing, truncated or malformed; the message names it."""


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file + rename: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _read_json(path: Path) -> Any:
    """Parsed JSON of ``path``; ArtifactError naming it when missing, unreadable or truncated."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArtifactError(f"{path}: truncated or not JSON") from None


def verify_safetensors(path: str | Path) -> None:
    """Header parses and the file holds exactly the bytes the header promises (catches truncation)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= min(MAX_HEADER_BYTES, size - 8):
                raise ArtifactError(f"{path}: truncated or not a safetensors file (bad header length)")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArtifactError(f"{path}: truncated or not a safetensors file (bad header)") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: not a safetensors file (header is not a table)")
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)
            and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2]
    expected = 8 + n + max(ends, default=0)
    if size != expected:
        raise ArtifactError(f"{path}: {size} bytes, its header says {expected} (truncated or corrupt)")


def verify_adapter(adapter_dir: str | Path) -> None:
    """A peft adapter folder with a readable config and complete weights."""
    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise ArtifactError(f"{adapter_dir}: no such adapter directory")
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise ArtifactError(f"{adapter_dir}: not a peft adapter directory (no {ADAPTER_CONFIG})")
    cfg = _read_json(adapter_dir / ADAPTER_CONFIG)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("base_model_name_or_path"), str):
        raise ArtifactError(f"{adapter_dir / ADAPTER_CONFIG}: no base_model_name_or_path")
    if not (adapter_dir / ADAPTER_WEIGHTS).is_file():
        raise ArtifactError(f"{adapter_dir}: no {ADAPTER_WEIGHTS}")
    verify_safetensors(adapter_dir / ADAPTER_WEIGHTS)


def verify_base(model_dir: str | Path) -> None:
    """A saved base model folder (config.json + complete model.safetensors)."""
    model_dir = Path(model_dir)
    _read_json(model_dir / "config.json")
    if (model_dir / "model.safetensors").is_file():
        verify_safetensors(model_dir / "model.safetensors")


def verify_metrics(path: str | Path) -> dict[str, Any]:
    """A metrics.json with what its readers need: an object with ``status`` and ``summary``."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: not a JSON object")
    for key, kind in (("status", str), ("summary", dict)):
        if not isinstance(data.get(key), kind):
            raise ArtifactError(f"{path}: '{key}' missing or not a {kind.__name__}")
    return data


def verify_reference(path: str | Path) -> None:
    """A reference.json: an object with ``mean`` and ``std`` tables (what evaluate reads)."""
    data = _read_json(Path(path))
    if not isinstance(data, dict) or not isinstance(data.get("mean"), dict) or not isinstance(data.get("std"), dict):
        raise ArtifactError(f"{path}: not a reference (no 'mean'/'std' tables)")


def verify_jsonl(path: str | Path) -> None:
    """Every line of a samples.jsonl is a JSON object (a cut-off last line is not)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        raise ArtifactError(f"{path}: unreadable") from None
    for lineno, line in enumerate(lines, 1):
        try:
            ok = not line.strip() or isinstance(json.loads(line), dict)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise ArtifactError(f"{path}:{lineno}: truncated or not a JSON object")


# (named output of jazz_solo.paths, check): what the workflow verifies each time it loads.
SCANS = (
    ("base_model", verify_base),
    ("adapter", verify_adapter),
    ("reference", verify_reference),
    ("samples_jsonl", verify_jsonl),
    ("metrics", verify_metrics),
    ("reval_metrics", verify_metrics),
)


def set_aside(path: str | Path, reason: str) -> Path:
    """Rename a corrupt result to ``<name>.corrupt`` (replacing an older one) and warn; returns the new path."""
    path = Path(path)
    dest = path.with_name(path.name + ".corrupt")
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.replace(path, dest)
    log.warning("set aside %s -> %s (%s); it will be rebuilt", path, dest.name, reason)
    return dest


def set_aside_corrupt(results: str | Path) -> list[tuple[Path, str]]:
    """Set aside every corrupt result of :data:`SCANS` under ``results``; returns (path, reason).

    Only outputs that exist are checked (a missing one is rebuilt anyway); the scan reads headers,
    not weights, so it stays cheap for large sweeps.
    """
    results = Path(results)
    found: list[tuple[Path, str]] = []
    checks = [(p, verify) for name, verify in SCANS for p in paths.existing(name, results)
              if p.is_dir() == (verify in (verify_base, verify_adapter))]
    for path, verify in checks:
        if not path.exists():  # already set aside below, as a result of a corrupt adapter
            continue
        try:
            verify(path)
        except ArtifactError as exc:
            set_aside(path, str(exc))
            found.append((path, str(exc)))
            if verify is verify_adapter:  # its candidates' scores describe samples of the corrupt adapter
                train_id = path.parent.relative_to(results / paths.FOLDERS["train"][0])
                # its candidates: the gen instances whose fragment starts with this train fragment
                below = Path(paths.folder("gen", str(train_id), results))
                for metrics in (m for m in paths.existing("metrics", results) if below in m.parents):
                    set_aside(metrics, f"adapter {path} was corrupt")
                    found.append((metrics, f"{metrics}: its adapter was corrupt"))
    return found
