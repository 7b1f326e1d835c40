"""Conditioned solo generation, window by window, with a KV cache (docs/architecture.md#generation).

Layers, from the inside out (each usable on its own, e.g. by the real-time server):

* :func:`generate_window` - one window's lead for a batch of samples: prefill the prompt
  ``BOS cond[:primer_max_tokens] SEP`` once (batch 1, then the cache is repeated for the batch),
  then one token per step through the KV cache (:mod:`jazz_solo.generation.kv_decode`), under the grammar mask of
  :mod:`jazz_solo.generation.sampling`, until EOS / the window's time budget / ``max_new_tokens``.
  Samples that finish are dropped from the batch (and from the cache).
* :class:`SoloGenerator` - a session over one conditioning stream: keeps each sample's solo so
  far, its generator and the cursor (how far the solo is written); :meth:`SoloGenerator.next_window`
  writes the next window. With ``continuity_seconds`` = ``d`` > 0 the window's origin moves back by
  ``d`` (at most half a window) and each sample's solo notes of ``[cursor - d, cursor)`` are
  re-encoded from that origin and *forced* as the start of its lead.
  Conditioning and lead then share one clock exactly as in training, and the sampled part starts at
  the cursor, so no timing drifts; the hop is ``W - d``.
* :func:`generate_piece` - a whole conditioning part, window after window, stitched into one solo
  by absolute times; :func:`run_generate` - the pipeline stage (pieces.tsv -> MIDI + samples.jsonl).

Every time on the way is an integer tick of the 10 ms grid, so window edges never drift.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data import windows
from ..data import tokens as T
from .guidance import guided_decoder
from ..data.midi_io import load_notes, split_roles, write_midi
from .sampling import lead_register, make_generators, process_logits, sample, sample_seed
from ..settings import DataSettings, GenerateSettings, GenSettings
from ..data.tokens import Note

log = logging.getLogger(__name__)

def settings_for_model(settings: GenSettings, model: torch.nn.Module, source: str | Path) -> GenSettings:
    """``settings``, checked against the data settings ``model`` records: vocabulary and split pitch
    must match (one line naming ``source`` otherwise)."""
    from ..training.model import check_data, recorded_data

    check_data(recorded_data(model), {"vocabulary": settings.vocabulary, "sequence": settings.sequence,
                                      "split_pitch": settings.split_pitch}, source)
    return settings


@dataclass
class WindowOutput:
    """One window's result for a batch. ``lead[i]`` is sample i's whole lead stream after SEP:
    forced prefix + sampled tokens + the closing a training example has (shift to the window
    end and NOTE_OFFs, only if notes still sound), ending in EOS."""

    lead: list[list[int]]
    prefix_len: list[int]
    sampled: list[int]      # tokens drawn from the model per sample
    finish: list[str]       # "eos" | "time" | "length" per sample
    prompt_tokens: int
    budget_ticks: int
    # Per sample, summed over its sampled tokens: the model's probability (temperature 1) that the
    # register mask / the grammar mask took away. A model that keeps wanting out-of-register notes
    # is a finding, not something to hide.
    masked_register: list[float] = field(default_factory=list)
    masked_grammar: list[float] = field(default_factory=list)


StepCallback = Callable[[torch.Tensor, torch.Tensor], None]


@torch.inference_mode()
def generate_window(
    model: torch.nn.Module,
    cond_tokens: Sequence[int],
    settings: GenSettings,
    generators: Sequence[torch.Generator],
    prefixes: Sequence[Sequence[int]] | None = None,
    budget_ticks: int | None = None,
    callback: StepCallback | None = None,
) -> WindowOutput:
    """Sample one window's lead for ``len(generators)`` samples sharing one conditioning.

    ``prefixes[i]``: lead tokens forced at the start of sample i (continuity tail; must be legal
    and shorter than the budget). ``budget_ticks``: the window length on the 10 ms grid (default
    ``settings.window_ticks``; shorter for a piece's last window). ``callback(rows, tokens)`` is
    called after every step with the sample indices and the tokens just recorded (streaming, and
    time-to-first-note measurement).
    """
    batch = len(generators)
    budget = settings.window_ticks if budget_ticks is None else int(budget_ticks)
    forced = [list(p) for p in prefixes] if prefixes is not None else [[] for _ in range(batch)]
    prompt = windows.prompt(list(cond_tokens), settings.primer_max_tokens)
    decoder = guided_decoder(model, settings.listening_guidance, settings.split_pitch)
    state = settings.vocab.grammar(batch, budget, lead_register(settings.split_pitch),
                                   T.to_tick(settings.eos_margin_seconds))
    out_of_register = torch.from_numpy(state.out_of_register())
    records: list[list[int]] = [[] for _ in range(batch)]
    sampled = [0] * batch
    finish = [""] * batch
    masked_register, masked_grammar = [0.0] * batch, [0.0] * batch

    # Prefill once: the prompt is the same for the whole batch, so no padding is needed.
    logits = decoder.prefill(prompt, batch)
    active = list(range(batch))
    while active:
        rows = torch.tensor(active)
        toks = torch.empty(len(active), dtype=torch.long)
        free = [i for i, r in enumerate(active) if len(records[r]) >= len(forced[r])]
        for i, r in enumerate(active):
            if len(records[r]) < len(forced[r]):
                toks[i] = forced[r][len(records[r])]
        if free:
            free_t = torch.tensor(free)
            allowed = state.allowed(rows[free_t])
            raw = torch.softmax(logits[free_t].float(), dim=-1)
            on_register = (raw * out_of_register).sum(-1).tolist()
            on_grammar = (raw * (~allowed & ~out_of_register)).sum(-1).tolist()
            for i, a, b in zip(free, on_register, on_grammar):
                masked_register[active[i]] += a
                masked_grammar[active[i]] += b
            probs = process_logits(logits[free_t], allowed, settings.temperature, settings.top_k, settings.top_p,
                                   state.nucleus_rows(rows[free_t]))
            toks[free_t] = sample(probs, [generators[active[i]] for i in free])
        rec = state.advance(toks, rows)
        if callback is not None:
            callback(rows, rec)
        keep = []
        for i, r in enumerate(active):
            tok = int(rec[i])
            records[r].append(tok)
            is_free = len(records[r]) > len(forced[r])
            sampled[r] += int(is_free)
            if tok == T.EOS:
                finish[r] = "eos"
                records[r].pop()  # re-added with the closing below
            elif bool(state.done[r]):
                finish[r] = "time"
            elif sampled[r] >= settings.max_new_tokens:
                finish[r] = "length"
            else:
                keep.append(i)
        if not keep:
            break
        if len(keep) < len(active):
            decoder.keep(keep)
            active = [active[i] for i in keep]
            rec = rec[keep]
        logits = decoder.step(rec)
    lead = [records[r] + state.closing_tokens(r) for r in range(batch)]
    return WindowOutput(lead, [len(f) for f in forced], sampled, finish, len(prompt), budget,
                        masked_register, masked_grammar)


@dataclass
class SoloGenerator:
    """A generation session: ``len(seeds)`` solos over one conditioning stream, window by window.

    ``solos[i]`` holds sample i's notes so far (absolute seconds); ``cursor`` is the tick up to
    which they are written. Call :meth:`next_window` with the conditioning notes known so far
    (absolute times; only those with onset in the window are used) to write the next window.
    """

    model: torch.nn.Module
    settings: GenSettings
    seeds: Sequence[int]
    cursor: int = 0
    solos: list[list[Note]] = field(default_factory=list)
    streams: list[list[int]] = field(default_factory=list)  # recorded lead tokens, all windows
    sampled: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    window_log: list[tuple[int, int]] = field(default_factory=list)  # (origin, end) ticks
    masked_register: list[float] = field(default_factory=list)  # summed over sampled tokens, per sample
    masked_grammar: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.seeds)
        self.generators = make_generators(self.seeds)
        self.solos = self.solos or [[] for _ in range(n)]
        self.streams = self.streams or [[] for _ in range(n)]
        self.sampled = self.sampled or [0] * n
        self.masked_register = self.masked_register or [0.0] * n
        self.masked_grammar = self.masked_grammar or [0.0] * n

    def _tail(self, sample_index: int, origin: int) -> list[int]:
        """Sample's solo notes of [origin, cursor) as lead tokens timed from ``origin``, ending at the cursor."""
        notes = [n for n in self.solos[sample_index] if T.to_tick(n.start) >= origin]
        toks = self.settings.vocab.encode_lead(notes, origin / T.TICKS_PER_SECOND, self.cursor / T.TICKS_PER_SECOND)
        ticks = sum(t - T.TIME_SHIFT + 1 for t in toks if T.is_time_shift(t))
        return toks + T.time_shift_tokens(self.cursor - origin - ticks)

    def plan(self) -> tuple[int, list[list[int]]]:
        """The next window's origin tick and each sample's forced tail (empty without continuity):
        ``continuity_seconds`` of the solo so far, at most half a window."""
        d = min(T.to_tick(self.settings.continuity_seconds), self.settings.window_ticks // 2, self.cursor)
        if d <= 0:
            return self.cursor, [[] for _ in self.seeds]
        origin = self.cursor - d
        return origin, [self._tail(i, origin) for i in range(len(self.seeds))]

    def next_window(
        self, cond_notes: Sequence[Note], until: float | None = None, callback: StepCallback | None = None
    ) -> list[list[Note]]:
        """Write the solo from the cursor to the next window's end (capped at ``until`` seconds).

        Returns each sample's new notes (absolute seconds); they are also appended to ``solos``.
        """
        origin, prefixes = self.plan()
        end = origin + self.settings.window_ticks
        if until is not None:
            end = min(end, T.to_tick(until))
        if end <= self.cursor:
            raise ValueError(f"nothing left to generate: cursor {self.cursor / 100:.2f} s >= end {end / 100:.2f} s")
        start_s = origin / T.TICKS_PER_SECOND
        cond = windows.encode_window(cond_notes, start_s, self.settings.window_seconds)
        out = generate_window(
            self.model, cond, self.settings, self.generators, prefixes, end - origin, callback=callback
        )
        new_notes = []
        for i, lead in enumerate(out.lead):
            notes = self.settings.vocab.decode_lead(lead, start_s, end / T.TICKS_PER_SECOND)
            fresh = [n for n in notes if T.to_tick(n.start) >= self.cursor]  # the tail's notes are already in
            _append_cutting_restrikes(self.solos[i], fresh, self.cursor / T.TICKS_PER_SECOND)
            self.streams[i].extend(lead[out.prefix_len[i] :])
            self.sampled[i] += out.sampled[i]
            self.masked_register[i] += out.masked_register[i]
            self.masked_grammar[i] += out.masked_grammar[i]
            new_notes.append(fresh)
        self.prompt_tokens += out.prompt_tokens
        self.window_log.append((origin, end))
        self.cursor = end
        return new_notes

    def run(self, cond_notes: Sequence[Note], seconds: float) -> list[list[Note]]:
        """Generate until the cursor reaches ``seconds``; returns the solos. A note that would sound
        past ``seconds`` (the end of the conditioning) is shortened there, not dropped."""
        while self.cursor < T.to_tick(seconds):
            self.next_window(cond_notes, until=seconds)
        self.solos = [[n._replace(end=min(n.end, seconds)) for n in solo] for solo in self.solos]
        return self.solos


def _append_cutting_restrikes(solo: list[Note], fresh: Sequence[Note], since: float) -> None:
    """Append ``fresh`` (all starting at or after ``since``) to ``solo``; an earlier note still
    sounding when its pitch is struck again ends there (a held note of the duration vocabulary
    may reach into the next window), so the MIDI file keeps every note."""
    held = [j for j in range(len(solo)) if solo[j].end > since]
    for note in sorted(fresh):
        for j in held:
            if solo[j].pitch == note.pitch and solo[j].start < note.start < solo[j].end:
                solo[j] = solo[j]._replace(end=note.start)
    solo.extend(fresh)


def conditioning_part(notes: Sequence[Note], split_pitch: int, max_seconds: float | None) -> tuple[list[Note], float]:
    """(conditioning notes, seconds to generate): notes <= split_pitch with onset before the cap;
    the length is the last conditioning note's end, capped at ``max_seconds``."""
    cond, _ = split_roles(notes, split_pitch)
    if max_seconds is not None:
        cond = [n for n in cond if n.start < max_seconds]
    if not cond:
        return [], 0.0
    seconds = max(n.end for n in cond)
    return cond, (min(seconds, float(max_seconds)) if max_seconds is not None else seconds)


@dataclass
class PieceSolos:
    solos: list[list[Note]]
    seeds: list[int]
    seconds: float
    prompt_tokens: int
    new_tokens: list[int]
    grammar_errors: list[dict[str, int]]
    wall_s: float
    masked_mass: list[dict[str, float]]  # mean per sampled token: {"register": p, "grammar": p}


def generate_piece(
    model: torch.nn.Module, cond_notes: Sequence[Note], seconds: float, settings: GenSettings, seeds: Sequence[int]
) -> PieceSolos:
    """All samples of one piece as one batch, window after window, stitched by absolute time (the
    causal sequence format: one sample after another, the comping's arrival simulated)."""
    if settings.sequence == "causal":
        return _causal_piece(model, cond_notes, seconds, settings, seeds)
    t0 = time.perf_counter()
    session = SoloGenerator(model, settings, list(seeds))
    session.run(cond_notes, seconds)
    wall = time.perf_counter() - t0
    errors = []
    for stream in session.streams:  # one window's stream ends in EOS: count window by window
        total: dict[str, int] = {}
        start = 0
        for j, tok in enumerate(stream):
            if tok == T.EOS:
                for k, v in settings.vocab.grammar_errors(stream[start:j]).items():
                    total[k] = total.get(k, 0) + v
                start = j + 1
        errors.append(total)
    masked = [
        {"register": reg / max(n, 1), "grammar": gram / max(n, 1)}
        for reg, gram, n in zip(session.masked_register, session.masked_grammar, session.sampled)
    ]
    return PieceSolos(
        session.solos, list(seeds), seconds, session.prompt_tokens, list(session.sampled), errors, wall, masked
    )


def _causal_piece(
    model: torch.nn.Module, cond_notes: Sequence[Note], seconds: float, settings: GenSettings, seeds: Sequence[int]
) -> PieceSolos:
    from .causal import offline_causal_solo

    solos = [offline_causal_solo(model, cond_notes, settings, seed=s, seconds=seconds) for s in seeds]
    return PieceSolos(
        [s.notes for s in solos], list(seeds), seconds, sum(s.stats.prompt_tokens for s in solos),
        [s.stats.sampled for s in solos], [settings.vocab.grammar_errors(s.stats.lead_tokens) for s in solos],
        sum(s.wall_s for s in solos),
        [{"register": s.stats.masked_register / max(s.stats.sampled, 1),
          "grammar": s.stats.masked_grammar / max(s.stats.sampled, 1)} for s in solos],
    )


def held_out_pieces(pieces_tsv: str | Path, num_pieces: int) -> list[dict[str, str]]:
    """Rows of pieces.tsv with source=target, split=test, sorted by piece_id, the first ``num_pieces``."""
    import pandas as pd

    table = pd.read_csv(pieces_tsv, sep="\t", dtype=str, keep_default_na=False)
    missing = {"piece_id", "path", "source", "split"} - set(table.columns)
    if missing:
        raise ValueError(f"{pieces_tsv}: missing columns {sorted(missing)}")
    rows = table[(table["source"] == "target") & (table["split"] == "test")].sort_values("piece_id")
    return rows.head(int(num_pieces)).to_dict("records")


def write_sample(path: Path, cond_notes: Sequence[Note], solo: Sequence[Note]) -> tuple[Path, Path]:
    """``path`` (tracks "comping" + "solo") and ``path`` with suffix ``.solo.mid`` (solo only)."""
    solo_path = path.with_name(path.name[: -len(path.suffix)] + ".solo" + path.suffix)
    write_midi(path, {"comping": cond_notes, "solo": solo})
    write_midi(solo_path, {"solo": solo})
    return path, solo_path


def run_generate(
    adapter_dir: str | Path,
    pieces_tsv: str | Path,
    samples_dir: str | Path,
    jsonl_path: str | Path,
    generate: GenerateSettings,
    data: DataSettings,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """The ``generate`` stage: every test piece x num_samples -> two MIDI files + one JSON line each."""
    from ..training.model import load_for_inference, pick_device

    device = device or pick_device()
    model = load_for_inference(adapter_dir, device=device)
    settings = settings_for_model(GenSettings.of(data, generate), model, adapter_dir)
    pieces = held_out_pieces(pieces_tsv, generate.num_pieces)
    if not pieces:
        raise ValueError(f"{pieces_tsv}: no target test pieces to condition on")
    samples_dir = Path(samples_dir)
    samples_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for p_index, row in enumerate(pieces):
        cond, seconds = conditioning_part(load_notes(row["path"]), int(data.split_pitch), generate.max_seconds)
        if not cond:
            log.warning("%s: no conditioning notes <= split_pitch %s, skipped", row["path"], data.split_pitch)
            continue
        seeds = [sample_seed(generate.seed, p_index, k) for k in range(int(generate.num_samples))]
        res = generate_piece(model, cond, seconds, settings, seeds)
        log.info("%s: %d samples, %.1f s of music in %.1f s", row["piece_id"], len(seeds), seconds, res.wall_s)
        for k, solo in enumerate(res.solos):
            midi, solo_midi = write_sample(samples_dir / f"{row['piece_id']}_s{k}.mid", cond, solo)
            lines.append(
                {
                    "piece_id": row["piece_id"],
                    "sample": k,
                    "seed": seeds[k],
                    "midi": str(midi),
                    "solo_midi": str(solo_midi),
                    "prompt_tokens": res.prompt_tokens,
                    "new_tokens": res.new_tokens[k],
                    "seconds": round(seconds, 3),
                    "wall_s": round(res.wall_s / len(seeds), 3),  # the batch's time, shared out
                    "grammar_errors": res.grammar_errors[k],
                    "masked_mass": {key: round(v, 6) for key, v in res.masked_mass[k].items()},
                    "lead_notes": len(solo),
                }
            )
    Path(jsonl_path).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines
