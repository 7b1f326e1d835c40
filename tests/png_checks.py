"""Checks on written PNG figures that read the image, not the file size: its size in pixels, that
something was drawn (many distinct colours, a share of non-white pixels) and that the pixels of a
given colour (a plotted curve, bars) are there."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image


def read_rgb(path: str | Path) -> np.ndarray:
    """The image as (height, width, 3) uint8 RGB."""
    with Image.open(path) as img:
        assert img.format == "PNG", f"{path}: {img.format}, not a PNG"
        return np.asarray(img.convert("RGB"))


def colour_pixels(rgb: np.ndarray, colour: str, tolerance: int = 10) -> int:
    """How many pixels are within ``tolerance`` (per channel, 0-255) of the matplotlib ``colour``."""
    want = np.round(np.array(to_rgb(colour)) * 255).astype(int)
    return int((np.abs(rgb.astype(int) - want) <= tolerance).all(axis=-1).sum())


def assert_figure(path: str | Path, width: int, height: int | tuple[int, int], colours: dict[str, int] | None = None,
                  min_distinct: int = 20, min_ink: float = 0.02) -> np.ndarray:
    """``path`` is a ``width`` x ``height`` PNG (height exact, or a (low, high) range) that is not
    blank: at least ``min_distinct`` distinct colours and a ``min_ink`` share of non-white pixels;
    ``colours``: matplotlib colour -> the least number of its pixels (the plotted data)."""
    rgb = read_rgb(path)
    h, w = rgb.shape[:2]
    low, high = height if isinstance(height, tuple) else (height, height)
    assert w == width and low <= h <= high, f"{path}: {w}x{h} pixels, expected {width}x{height}"
    distinct = len(np.unique(rgb.reshape(-1, 3), axis=0))
    assert distinct >= min_distinct, f"{path}: {distinct} distinct colours (blank?)"
    ink = float((rgb < 250).any(axis=-1).mean())
    assert ink >= min_ink, f"{path}: {ink:.1%} non-white pixels (blank?)"
    for colour, least in (colours or {}).items():
        count = colour_pixels(rgb, colour)
        assert count >= least, f"{path}: {count} pixels of {colour}, expected at least {least} (not drawn?)"
    return rgb
