"""Copy check: the longest run of notes a solo shares with the target's training pieces.

A candidate can score a small realism distance by replaying the pieces it was trained on (which
may also sit in the reference). The check: each lead part becomes a sequence of note-to-note
steps (pitch interval, onset interval rounded to ``IOI_GRID_S``), and the longest run of
consecutive steps a solo shares with any training piece is found with a suffix automaton over
all training pieces (linear time). A run of k shared steps is k + 1 notes. Intervals, not
absolute pitches, because training sees every piece in 12 keys: a replay may come out in any.

Read it against the same number for real held-out pieces of the artist (a shared scale run of
a few notes is normal; a replay of a whole phrase is not).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..data.tokens import Note

IOI_GRID_S = 0.05  # onset intervals are compared on a 50 ms grid (human timing is not 10 ms exact)
MAX_IOI_STEPS = 63  # longer gaps are all "long" (3.15 s and more)


def steps(notes: Iterable[Note]) -> list[int]:
    """One integer code per consecutive note pair (sorted by onset, pitch): pitch interval and
    onset interval on the grid."""
    ordered = sorted(notes, key=lambda n: (n.start, n.pitch))
    codes = []
    for a, b in zip(ordered, ordered[1:]):
        ioi = min(int(round((b.start - a.start) / IOI_GRID_S)), MAX_IOI_STEPS)
        codes.append((b.pitch - a.pitch + 128) * (MAX_IOI_STEPS + 1) + ioi)
    return codes


class PhraseIndex:
    """Suffix automaton of the step sequences of a set of pieces (a unique separator between
    pieces, so no match spans two pieces)."""

    def __init__(self, pieces: Iterable[Sequence[int]]):
        self._next: list[dict[int, int]] = [{}]
        self._link = [-1]
        self._len = [0]
        self._last = 0
        self.pieces = 0
        for i, seq in enumerate(pieces):
            for code in seq:
                self._extend(code)
            self._extend(-1 - i)  # negative codes never occur in a solo
            self.pieces += 1

    def _extend(self, c: int) -> None:
        nxt, link, length = self._next, self._link, self._len
        cur = len(length)
        length.append(length[self._last] + 1)
        link.append(0)
        nxt.append({})
        p = self._last
        while p != -1 and c not in nxt[p]:
            nxt[p][c] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][c]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                length.append(length[p] + 1)
                link.append(link[q])
                nxt.append(dict(nxt[q]))
                while p != -1 and nxt[p].get(c) == q:
                    nxt[p][c] = clone
                    p = link[p]
                link[q] = link[cur] = clone
        self._last = cur

    def longest_steps(self, seq: Sequence[int]) -> int:
        """Longest run of consecutive codes of ``seq`` that occurs in one indexed piece."""
        nxt, link, length = self._next, self._link, self._len
        state = matched = best = 0
        for c in seq:
            while state and c not in nxt[state]:
                state = link[state]
                matched = length[state]
            if c in nxt[state]:
                state = nxt[state][c]
                matched += 1
            else:
                state = matched = 0
            best = max(best, matched)
        return best

    def longest_run(self, notes: Sequence[Note]) -> int:
        """Notes in the longest run shared with an indexed piece (k shared steps = k + 1 notes;
        a lone note matches trivially: 1; no notes: 0)."""
        if not notes:
            return 0
        return self.longest_steps(steps(notes)) + 1


def write_phrases(path: str | Path, pieces: Mapping[str, Sequence[Note]]) -> Path:
    """The step codes of each piece's lead, as JSON {piece_id: [codes]} (what evaluation reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"ioi_grid_s": IOI_GRID_S, "pieces": {pid: steps(notes) for pid, notes in sorted(pieces.items())}}
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    return path


def load_index(path: str | Path) -> PhraseIndex:
    """The :class:`PhraseIndex` of a file written by :func:`write_phrases`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        pieces = data["pieces"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a phrases file ({str(exc).splitlines()[0]})") from None
    if data.get("ioi_grid_s") != IOI_GRID_S:
        raise ValueError(f"{path}: written with ioi_grid_s {data.get('ioi_grid_s')}, expected {IOI_GRID_S}; rebuild it")
    return PhraseIndex(pieces[k] for k in sorted(pieces))


def summary(runs: Sequence[int]) -> dict[str, float | None]:
    """``avg_copy_run`` and ``max_copy_run`` (notes) over samples; None without samples."""
    if not runs:
        return {"avg_copy_run": None, "max_copy_run": None}
    return {"avg_copy_run": sum(runs) / len(runs), "max_copy_run": float(max(runs))}
