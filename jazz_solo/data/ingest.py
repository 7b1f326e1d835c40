"""Ingest: find the configured MIDI files, parse each once, quarantine bad ones, split by piece.

A config entry of ``data.corpus``/``data.target`` is a folder (searched recursively) or a glob
(e.g. ``/data/studio/*``). Files matched by ``target`` are target pieces and never corpus ones.

Each file is one piece. Its *key* is its path from the folder that holds the artist folder
(``<Artist>/<Album>/<Title>.midi`` in the PiJAMA layout), whichever way the config reached it,
so ids and splits do not change when the same data is named differently. The split is a seeded
hash of that key (deterministic, decided before any transposition, so no piece leaks).
"""
from __future__ import annotations

import csv
import glob
import hashlib
import io
import itertools
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

from ..artifacts import atomic_write_text
from .fingerprint import note_fingerprint
from .midi_io import MidiError, load_notes

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")
SPLITS = ("train", "val", "test")
PIECE_COLUMNS = ("piece_id", "path", "artist", "source", "split", "notes", "seconds")
QUARANTINE_COLUMNS = ("path", "reason")


@dataclass(frozen=True)
class SourceFile:
    path: str    # as found: relative to the working directory when configured relative
    key: str     # "<Artist>/.../<Title>.mid": stable relative path (ids, split hash)
    artist: str
    source: str  # corpus | target


def _is_midi(path: Path) -> bool:
    return path.suffix.lower() in MIDI_SUFFIXES and path.is_file()


def _folder_name(path: Path) -> str:
    return path.resolve().name  # "." and trailing slashes still give a real name


def _fixed_prefix(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard component."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda p: not glob.has_magic(p), parts))
    return Path(*fixed) if fixed else Path(".")


def expand_entry(entry: str, key_name: str) -> list[tuple[str, str, str]]:
    """(path, key, artist) of every MIDI file a config entry names; ValueError if none.

    Artist: a folder whose files sit >= 2 levels down (``Artist/Album/Title``) is a collection
    of artists, so the first component below it; otherwise the folder itself is the artist.
    A file matched by a glob: the first component below the glob's fixed prefix (``root/*/*.mid``
    -> the folder matched by the first ``*``), or the prefix folder itself when directly in it.
    """
    magic = glob.has_magic(entry) and not Path(entry).exists()  # titles like "Tune [Live].midi" are literal
    matches = sorted(glob.glob(entry, recursive=True)) if magic else [entry]
    found: list[tuple[str, str, str]] = []
    for match in map(Path, matches):
        if match.is_dir():
            for f in sorted(p for p in match.rglob("*") if _is_midi(p)):
                rel = f.relative_to(match)
                if len(rel.parts) >= 3:
                    found.append((str(f), rel.as_posix(), rel.parts[0]))
                else:
                    name = _folder_name(match)
                    found.append((str(f), f"{name}/{rel.as_posix()}", name))
        elif _is_midi(match):
            root = _fixed_prefix(entry) if magic else match.parent
            rel = Path(os.path.relpath(match, root))
            if len(rel.parts) >= 2 and rel.parts[0] != "..":
                found.append((str(match), rel.as_posix(), rel.parts[0]))
            else:
                name = _folder_name(match.parent)
                found.append((str(match), f"{name}/{match.name}", name))
    if not found:
        raise ValueError(f"config key '{key_name}': '{entry}' matches no .mid/.midi files")
    return found


def find_sources(corpus: Sequence[str], target: Sequence[str]) -> list[SourceFile]:
    """Every configured MIDI file once, target first (a target file is never also corpus)."""
    seen: set[Path] = set()
    files: list[SourceFile] = []
    for source, entries in (("target", target), ("corpus", corpus)):
        for entry in entries:
            for path, key, artist in expand_entry(entry, f"data.{source}"):
                real = Path(path).resolve()
                if real not in seen:
                    seen.add(real)
                    files.append(SourceFile(path, key, artist, source))
    return files


def slug(text: str, limit: int = 40) -> str:
    """Filesystem- and wildcard-safe lower-case slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def piece_id(artist: str, key: str) -> str:
    """``<artist>--<title>--<hash of key>``: readable, stable, unique per key."""
    return f"{slug(artist)}--{slug(Path(key).stem)}--{short_hash(key)}"


def unit_hash(seed: int, key: str) -> float:
    """Seeded hash of a key mapped to [0, 1)."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def split_of(u: float, ratios: Mapping[str, float]) -> str:
    total = sum(ratios[s] for s in SPLITS)
    if total <= 0:
        raise ValueError("config key 'data.split_ratios': ratios sum to 0")
    edge = 0.0
    for s in SPLITS:
        edge += ratios[s] / total
        if u < edge:
            return s
    return SPLITS[-1]


def assign_splits(keys: Sequence[str], ratios: Mapping[str, float], seed: int, required: Iterable[str]) -> list[str]:
    """Split of each key by seeded hash; with >= 3 pieces every ``required`` split gets one.

    The fix-up moves the piece whose hash lies closest to the missing split's side (largest
    hash for val/test, smallest for train) out of a split that keeps at least one piece, so it
    is deterministic and changes as few pieces as possible.
    """
    us = [unit_hash(seed, k) for k in keys]
    splits = [split_of(u, ratios) for u in us]
    if len(keys) < 3:
        return splits
    for need in [s for s in ("test", "val", "train") if s in set(required)]:
        counts = Counter(splits)
        if counts[need]:
            continue
        donors = [i for i in range(len(keys)) if counts[splits[i]] >= 2 and splits[i] != need]
        from_train = [i for i in donors if splits[i] == "train"] if need != "train" else []
        candidates = from_train or donors
        pick = (min if need == "train" else max)(candidates, key=lambda i: us[i])
        splits[pick] = need
    return splits


def _parse(path: str) -> tuple[str, int, float, str] | tuple[str, str]:
    """(path, notes, seconds, content fingerprint) or (path, reason) for the quarantine; runs in a worker."""
    try:
        notes = load_notes(path)
    except MidiError as exc:
        message = str(exc)
        return path, message[len(path) + 2 :] if message.startswith(f"{path}: ") else message
    return path, len(notes), round(max(n.end for n in notes), 3), note_fingerprint(notes)


def parse_all(paths: Sequence[str], threads: int = 1) -> list[tuple]:
    """Parse every file once, in order, with ``threads`` worker processes."""
    if threads > 1 and len(paths) > 1:
        with Pool(min(threads, len(paths))) as pool:
            return list(pool.imap(_parse, paths, chunksize=4))
    return [_parse(p) for p in paths]


def write_tsv(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())  # readers never see half a table


def read_pieces(path: str | Path) -> list[dict[str, str]]:
    """Rows of pieces.tsv as dicts (strings; ``notes``/``seconds`` converted)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["notes"] = int(row["notes"])
        row["seconds"] = float(row["seconds"])
    return rows


def _require_usable(files: Sequence[SourceFile], pieces: Sequence[dict], quarantined: Sequence[tuple[str, str]]) -> None:
    """A source whose every file was quarantined stops here with one line, not later in pretraining."""
    reasons = dict(quarantined)
    for source in ("target", "corpus"):
        paths = [f.path for f in files if f.source == source]
        if paths and not any(p["source"] == source for p in pieces):
            counts = Counter(reasons.get(p, "?").split(" (")[0].split(" of ")[0] for p in paths)
            summary = ", ".join(f"{n} {why}" for why, n in counts.most_common(4))
            raise ValueError(f"config key 'data.{source}': none of its {len(paths)} MIDI files is usable ({summary})")


def ingest(
    corpus: Sequence[str],
    target: Sequence[str],
    split_ratios: Mapping[str, float],
    seed: int,
    pieces_out: str | Path,
    quarantine_out: str | Path,
    threads: int = 1,
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Write pieces.tsv and quarantine.tsv; returns (pieces, quarantined). Files are only read."""
    files = find_sources(corpus, target)
    parsed = parse_all([f.path for f in files], threads)
    pieces: list[dict] = []
    quarantined: list[tuple[str, str]] = []
    used_ids: set[str] = set()
    first_copy: dict[str, SourceFile] = {}  # fingerprint -> the copy kept (target files come first)
    for f, result in zip(files, parsed):
        if len(result) == 2:
            quarantined.append((f.path, result[1]))
            log.warning("quarantined %s: %s", f.path, result[1])
            continue
        kept = first_copy.setdefault(result[3], f)
        if kept is not f:  # same notes under another name: one copy only, or it leaks across splits
            reason = f"duplicate of {kept.path}" + (" (a target piece)" if kept.source != f.source else "")
            quarantined.append((f.path, reason))
            log.warning("quarantined %s: %s", f.path, reason)
            continue
        pid = piece_id(f.artist, f.key)
        k = 1
        while pid in used_ids:  # two roots holding the same relative path
            pid = piece_id(f.artist, f"{f.key}#{k}")
            k += 1
        used_ids.add(pid)
        pieces.append(dict(piece_id=pid, path=f.path, artist=f.artist, source=f.source, split="",
                           notes=result[1], seconds=result[2], key=f.key))
    _require_usable(files, pieces, quarantined)
    for source in ("corpus", "target"):
        rows = [p for p in pieces if p["source"] == source]
        # The target's test pieces are what generation conditions on: always have val and test.
        required = SPLITS if source == "target" else [s for s in SPLITS if split_ratios[s] > 0]
        for row, split in zip(rows, assign_splits([r["key"] for r in rows], split_ratios, seed, required)):
            row["split"] = split
    pieces.sort(key=lambda p: p["piece_id"])
    write_tsv(pieces_out, PIECE_COLUMNS, ([p[c] for c in PIECE_COLUMNS] for p in pieces))
    write_tsv(quarantine_out, QUARANTINE_COLUMNS, quarantined)
    counts = Counter((p["source"], p["split"]) for p in pieces)
    log.info("%d pieces %s, %d quarantined", len(pieces), dict(sorted(counts.items())), len(quarantined))
    return pieces, quarantined
