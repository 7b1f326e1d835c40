"""Flag checks shared by the subcommands: a bad value is one ``ValueError`` line naming the flag.

argparse's ``type=float`` accepts ``nan`` and ``inf``, and the config schema's bounds let NaN
through (every comparison with NaN is false), so numeric flags are checked here before use.
"""
from __future__ import annotations

import math
from pathlib import Path

MAX_NUM_SAMPLES = 256  # one batch; 10^6 samples tried to allocate 131 GB


def number(flag: str, value: float | int | None, low: float | None = None, high: float | None = None,
           low_inclusive: bool = True) -> None:
    """``value`` (when given) is finite and within [low or (low, high]; else ValueError naming ``flag``."""
    if value is None:
        return
    if not math.isfinite(value):
        raise ValueError(f"{flag} {value}: must be a finite number")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    if too_low or (high is not None and value > high):
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        shown = value if isinstance(value, int) else f"{value:g}"
        raise ValueError(f"{flag} {shown}: must be in {'[' if low_inclusive else '('}{left}, {right}]")


def output_file(flag: str, path: Path) -> None:
    """``path`` can be written as a file: not an existing folder, and its parent is (or can be) a folder."""
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder")


def device(spec: str | None):
    """A torch device for ``--device`` (cpu, cuda, cuda:N, mps), refused when not usable here."""
    import torch

    from ..training.model import pick_device

    if spec is None:
        return pick_device()
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {spec!r}: not a device (use cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine (use cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"--device {spec}: MPS is not available on this machine (use cpu)")
    elif dev.type != "cpu":
        raise ValueError(f"--device {spec}: unsupported device type (use cpu, cuda, cuda:N or mps)")
    return dev
