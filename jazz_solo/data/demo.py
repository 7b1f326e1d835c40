"""The built-in demo corpus: music21's bundled scores converted to MIDI.

music21 ships its corpus with the package (no download at run time). Four-part chorales and
motets give a lead (soprano/alto, mostly above middle C) over lower voices (tenor/bass), which is
what the role split needs. Pieces are taken in sorted path order, so the first N are always the
same files.
"""
from __future__ import annotations

import logging
import os
from multiprocessing import Pool
from pathlib import Path

log = logging.getLogger(__name__)

# Score formats only: the corpus also holds roman-numeral analyses (.rntxt), which are not music.
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi", ".abc")


def list_pieces(collection: str, count: int) -> list[Path]:
    """The first ``count`` scores of a music21 corpus collection (e.g. "bach"), sorted by path."""
    from music21 import corpus

    paths = sorted(Path(str(p)) for p in corpus.getComposer(collection))
    scores = [p for p in paths if p.suffix.lower() in SCORE_SUFFIXES]
    if not scores:
        raise ValueError(f"config key 'demo.collections.{collection}': no such music21 corpus collection")
    return scores[:count]


def midi_name(score: Path) -> str:
    """Output file name: the score's name with .mid (dots kept, e.g. bwv10.7.mid)."""
    return f"{score.stem}.mid"


def _convert(job: tuple[Path, Path]) -> tuple[str, str | None]:
    score, target = job
    from music21 import corpus

    try:
        parsed = corpus.parse(str(score))
        tmp = target.with_suffix(".part")
        parsed.write("midi", fp=str(tmp))
        os.replace(tmp, target)  # never leave a half-written .mid behind
        return score.name, None
    except Exception as exc:  # music21 raises many types for scores it cannot handle
        return score.name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def convert_collection(collection: str, count: int, out_dir: str | Path, threads: int = 1) -> list[Path]:
    """Convert the first ``count`` pieces of ``collection`` to ``out_dir/<name>.mid``.

    Scores music21 cannot convert are logged and skipped (the demo never fails on one score).
    Returns the written MIDI paths in sorted order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(score, out_dir / midi_name(score)) for score in list_pieces(collection, count)]
    if threads > 1 and len(jobs) > 1:
        with Pool(min(threads, len(jobs))) as pool:
            results = pool.map(_convert, jobs, chunksize=1)
    else:
        results = [_convert(job) for job in jobs]
    for name, error in results:
        if error:
            log.warning("%s/%s skipped: %s", collection, name, error)
    written = sorted(target for (_, target), (_, error) in zip(jobs, results) if error is None)
    log.info("%s: %d of %d scores converted to %s", collection, len(written), len(jobs), out_dir)
    return written
