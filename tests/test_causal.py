"""The causal sequence format and its generator, with real tiny models and real note lists:
exact round trip and lead mask, training labels, arrival simulated in chunks, restarts, refusals."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jazz_solo.data import causal_sequence as CS
from jazz_solo.data import durations as D
from jazz_solo.data import tokens as T
from jazz_solo.training.batching import IGNORE, collate
from jazz_solo.generation.causal import CausalSoloist, CompingEvent, comping_events, offline_causal_solo
from jazz_solo.config import ConfigError, check_combinations, load_config
from jazz_solo.data.dataset import piece_examples
from jazz_solo.generation.generate import GenSettings, settings_for_model
from jazz_solo.data.midi_io import load_notes, split_roles
from jazz_solo.training.model import build_model
from jazz_solo.settings import ModelSettings, Settings
from jazz_solo.data.windows import WindowSet
from jazz_solo.data.tokens import Note

from conftest import comping_and_lead
from tiny_jazz import jazz_piece

TINY = ModelSettings.from_config({"n_layer": 1, "n_embd": 32, "n_head": 2, "intermediate_size": 64})
CAUSAL_DATA = {"vocabulary": "duration", "sequence": "causal", "split_pitch": 60, "max_sequence": 128}
SETTINGS = GenSettings.defaults(vocabulary="duration", sequence="causal", split_pitch=60, top_p=0.95, continuity_seconds=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return build_model(TINY, seed=0, data=CAUSAL_DATA).eval()


def hands(seconds: float = 16.0, seed: int = 0):
    return split_roles(comping_and_lead(seconds, seed), 60)


@pytest.mark.parametrize("piece", ["eighths", "jazz"])
def test_round_trip_keeps_every_note_and_masks_only_the_lead(piece, make_midi):
    """Exact round trip of both hands; "jazz": the fixture of tests/tiny_jazz.py (rolled chords and
    jitter off the grid, swung lines, dyads, long notes) written as MIDI and read back."""
    if piece == "jazz":
        cond, lead = split_roles(load_notes(make_midi("jazz.mid", notes=jazz_piece(bars=4, seed=1, key=-4))), 60)
        assert len(lead) > 12 and len(cond) > 30
    else:
        cond, lead = hands()
    toks, is_lead = CS.encode(cond, lead)
    got_cond, got_lead = CS.decode(toks, 60)
    want = lambda notes: [(on, off, p, T.velocity_bin(v)) for on, off, p, v in T.quantize(notes)]  # noqa: E731
    have = lambda notes: [(T.to_tick(n.start), T.to_tick(n.end), n.pitch, T.velocity_bin(n.velocity))  # noqa: E731
                          for n in notes]
    assert have(got_cond) == want(cond)
    assert have(got_lead) == want(lead)
    for tok, lead_target in zip(toks, is_lead):
        if T.is_note_off(tok) or (T.is_note_on(tok) and tok - T.NOTE_ON <= 60):
            assert not lead_target, "a comping event is a training target"
        if T.is_time_shift(tok) or D.is_duration(tok) or (T.is_note_on(tok) and tok - T.NOTE_ON > 60):
            assert lead_target


def test_events_of_one_tick_put_the_comping_first():
    from jazz_solo.data.tokens import Note

    toks, _ = CS.encode([Note(0.5, 1.0, 48, 64)], [Note(0.5, 0.75, 72, 64)])
    ons = [t for t in toks if T.is_note_on(t)]
    assert ons == [T.NOTE_ON + 48, T.NOTE_ON + 72]


def test_causal_windows_label_only_the_lead(make_midi):
    cfg = dataclasses.replace(Settings.from_config(load_config()).data, sequence="causal", transpose=[0, 0])
    path = make_midi(seconds=20.0)
    result = piece_examples(load_notes(path), 20.0, "train", cfg)
    assert result.windows > 0 and result.lead_mask is not None
    assert len(result.lead_mask) == len(result.tokens)
    ws = WindowSet.from_sequences(
        np.split(result.tokens, np.cumsum(result.lengths)[:-1]), result.sep_pos,
        np.split(result.lead_mask, np.cumsum(result.lengths)[:-1]))
    batch = collate(ws, [0])
    seq, labels = batch.input_ids[0], batch.labels[0]
    assert int(seq[0]) == T.BOS and labels[0] == IGNORE
    comping = [(i, int(t)) for i, t in enumerate(seq) if T.is_note_off(int(t))]
    assert comping and all(labels[i] == IGNORE for i, _ in comping)
    lead_ons = [i for i, t in enumerate(seq) if T.is_note_on(int(t)) and int(t) - T.NOTE_ON > 60]
    assert lead_ons and all(labels[i] == seq[i] for i in lead_ons)


def test_offline_solo_is_seeded_in_register_and_ends_with_the_comping(model):
    cond, _ = hands(12.0)
    a = offline_causal_solo(model, cond, SETTINGS, seed=3, seconds=12.0)
    b = offline_causal_solo(model, cond, SETTINGS, seed=3, seconds=12.0)
    assert a.notes == b.notes and a.notes
    assert all(60 < n.pitch <= 108 and n.start < n.end <= 12.0 for n in a.notes)
    assert not any(t == T.EOS or T.is_note_off(t) for t in a.stats.lead_tokens), "the lead sampled a comping event"
    errors = SETTINGS.vocab.grammar_errors(a.stats.lead_tokens)
    assert errors["missing_duration"] == 0 and errors["orphan_duration"] == 0


def test_no_note_is_decided_after_its_onset(model):
    """Live, a note decided for a moment already past would sound late: comping heard late (it cut a
    shift in the last chunk) leaves the lead silent until the present, whatever the chunking."""
    cond, _ = hands(10.0, seed=1)
    for chunk, lookahead in ((0.1, 0.1), (0.05, 0.1), (0.25, 0.3)):
        solo = offline_causal_solo(model, cond, SETTINGS, seed=5, seconds=10.0, chunk_seconds=chunk,
                                   lookahead_seconds=lookahead)
        assert solo.notes
        assert all(n.start >= heard - 1e-9 for n, heard in zip(solo.notes, solo.heard_until)), (chunk, lookahead)


def test_notes_are_decided_at_most_a_lookahead_after_the_comping_heard(model):
    cond, _ = hands(10.0, seed=2)
    solo = offline_causal_solo(model, cond, SETTINGS, seed=1, seconds=10.0, chunk_seconds=0.1, lookahead_seconds=0.15)
    gaps = [n.start - heard for n, heard in zip(solo.notes, solo.heard_until)]
    assert gaps and max(gaps) <= 0.15 + 0.011


class RecordingDecoder:
    """A soloist's decoder that keeps the streams it was fed, one per context (a rewound token leaves it)."""

    def __init__(self, decoder):
        self.decoder, self.streams = decoder, []

    def prefill(self, prompt, batch):
        self.streams.append(list(prompt))
        return self.decoder.prefill(prompt, batch)

    def step(self, toks):
        self.streams[-1].append(int(toks.reshape(-1)[0]))
        return self.decoder.step(toks)

    def rewind(self, n):
        del self.streams[-1][-n:]
        self.decoder.rewind(n)


def test_a_shift_under_a_second_always_ends_on_an_event(model, monkeypatch):
    """In training a time shift under 1 s always ends on an event of either hand. A shift kept by
    thinning ends on the lead's, so the next token is a lead event, never another shift (sampled
    freely, it wrote two short shifts in a row, a stream the model had never read)."""
    from jazz_solo.generation import causal

    recorders = []
    make = causal.guided_decoder

    def recorded(*args):
        recorders.append(RecordingDecoder(make(*args)))
        return recorders[-1]

    monkeypatch.setattr(causal, "guided_decoder", recorded)
    cond = [Note(t, t + 6.0, p, 60) for t in (0.0, 6.0, 12.0, 18.0) for p in (48, 52, 55)]  # sparse comping: the lead's shifts are thinned
    for chunk, lookahead in ((0.1, 0.1), (24.0, 0.0)):
        offline_causal_solo(model, cond, SETTINGS, seed=2, seconds=24.0, chunk_seconds=chunk, lookahead_seconds=lookahead)
        streams = recorders[-1].streams
        assert sum(T.is_time_shift(t) for s in streams for t in s) > 15
        doubled = [s[i - 1: i + 1] for s in streams for i in range(1, len(s)) if T.is_time_shift(s[i])
                   and T.is_time_shift(s[i - 1]) and s[i - 1] != T.TIME_SHIFT + T.N_TIME_SHIFT - 1]
        assert not doubled, (chunk, doubled[:5])


def test_long_streams_restart_within_the_model_length(model):
    cond, _ = hands(40.0, seed=3)
    soloist = CausalSoloist(model, SETTINGS, seed=0)
    longest = 0
    for step in range(400):
        now = (step + 1) * 0.1
        soloist.hear([e for e in comping_events(cond) if now - 0.1 < e.time <= now])
        soloist.advance(now, now + 0.1)
        longest = max(longest, soloist._length)
    assert soloist.stats.restarts > 3
    assert longest <= CAUSAL_DATA["max_sequence"]


def test_each_note_is_told_as_soon_as_it_is_decided(model):
    """advance(on_note=...): every note it returns, in order, each told before the next is sampled
    (live, a note due now is sent without waiting for the rest of the lookahead)."""
    cond, _ = hands(10.0, seed=4)
    soloist = CausalSoloist(model, SETTINGS, seed=0)
    told, returned, several, sampled_before = [], [], 0, []

    def tell(note):
        told.append(note)
        sampled_before.append(soloist.stats.sampled)

    for step in range(100):
        now = (step + 1) * 0.1
        soloist.hear([e for e in comping_events(cond) if now - 0.1 < e.time <= now])
        sampled_before.clear()
        new = soloist.advance(now, now + 0.5, tell)
        returned += new
        several += len(new) > 1
        assert len(set(sampled_before)) == len(sampled_before)  # one at a time, as sampling goes on
    assert several and told == returned


def test_live_note_ends_can_come_later_or_never(model):
    """A held live comping note (its off not heard yet, or never) is still a legal stream."""
    soloist = CausalSoloist(model, SETTINGS, seed=0)
    soloist.hear([CompingEvent(0.0, 48, 80), CompingEvent(0.0, 55, 80)])
    first = soloist.advance(1.0, 1.1)
    soloist.hear([CompingEvent(1.0, 48, 0), CompingEvent(1.05, 50, 70)])  # 55 is never released
    later = soloist.advance(3.0, 3.1)
    assert all(60 < n.pitch for n in first + later)


def test_causal_needs_the_duration_vocabulary_and_matching_models(model):
    config = load_config()
    config["data"].update(vocabulary="performance", sequence="causal")
    with pytest.raises(ConfigError, match="data.sequence"):
        check_combinations(config)
    windowed = GenSettings.defaults(vocabulary="duration", sequence="windowed", top_p=1.0, continuity_seconds=0.0)
    with pytest.raises(ValueError, match="data.sequence"):
        settings_for_model(windowed, model, "the-model")
    with pytest.raises(ValueError, match="causal"):
        CS.check_sequence("causal", "performance")
