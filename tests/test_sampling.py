"""Grammar mask, logits processing and per-sample generators (jazz_solo.generation.sampling)."""
from __future__ import annotations

import pytest
import torch

from jazz_solo.data import tokens as T
from jazz_solo.data.vocab import get as get_vocabulary
from jazz_solo.data import durations as D
from jazz_solo.generation.sampling import (
    DurationGrammar,
    GrammarState,
    lead_register,
    make_generators,
    process_logits,
    sample,
    sample_seed,
)


def test_mask_follows_sounding_pitches_and_forbids_specials():
    state = GrammarState(2, budget_ticks=800)
    state.advance(torch.tensor([T.NOTE_ON + 60, T.VELOCITY + 10]))
    allowed = state.allowed()
    assert not allowed[0, T.NOTE_ON + 60] and allowed[1, T.NOTE_ON + 60]
    # Opened at this tick: no NOTE_OFF yet (a zero-length note), and never for a silent pitch.
    assert not allowed[0, T.NOTE_OFF + 60] and not allowed[0, T.NOTE_OFF + 61]
    for special in (T.PAD, T.BOS, T.SEP):
        assert not allowed[:, special].any()
    assert allowed[:, T.EOS].all() and allowed[:, T.TIME_SHIFT : T.VELOCITY].all()
    state.advance(torch.tensor([T.TIME_SHIFT, T.TIME_SHIFT]))
    assert state.allowed()[0, T.NOTE_OFF + 60]
    state.advance(torch.tensor([T.NOTE_OFF + 60, T.NOTE_ON + 61]))
    allowed = state.allowed()
    assert allowed[0, T.NOTE_ON + 60] and not allowed[0, T.NOTE_OFF + 60]


def test_time_shift_past_the_budget_is_clamped_and_ends_the_window():
    state = GrammarState(2, budget_ticks=150)
    state.advance(torch.tensor([T.NOTE_ON + 64, T.TIME_SHIFT + 99]))  # row 1: 1 s
    recorded = state.advance(torch.tensor([T.TIME_SHIFT + 99, T.TIME_SHIFT + 99]))  # row 1 would reach 2 s
    assert recorded.tolist() == [T.TIME_SHIFT + 99, T.TIME_SHIFT + 49]
    assert state.elapsed.tolist() == [100, 150] and state.done.tolist() == [False, True]
    # Closing like a training example: shift to the window end, NOTE_OFFs, EOS.
    assert state.closing_tokens(0) == [T.TIME_SHIFT + 49, T.NOTE_OFF + 64, T.EOS]
    assert state.closing_tokens(1) == [T.EOS]
    state.advance(torch.tensor([T.EOS]), rows=torch.tensor([0]))
    assert state.done.all()


def test_process_logits_masks_then_applies_top_k_and_top_p():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, 9.0]])
    allowed = torch.tensor([[True, True, True, True, True, False]])
    probs = process_logits(logits, allowed)
    assert probs[0, 5] == 0 and torch.isclose(probs.sum(), torch.tensor(1.0))
    assert (process_logits(logits, allowed, top_k=2)[0] > 0).tolist() == [True, True, False, False, False, False]
    # top-p keeps the smallest prefix reaching p: 0.64 + 0.24 >= 0.8 -> two tokens.
    assert (process_logits(logits, allowed, top_p=0.8)[0] > 0).sum() == 2
    # A tiny top-p still keeps the best legal token.
    assert (process_logits(logits, allowed, top_p=1e-6)[0] > 0).tolist() == [True] + [False] * 5
    cold = process_logits(logits, allowed, temperature=0.25)
    assert cold[0, 0] > probs[0, 0]


def test_sample_uses_one_generator_per_row_independent_of_batch_mates():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(3, T.VOCAB_SIZE), dim=-1)
    together = sample(probs, make_generators([11, 22, 33]))
    alone = sample(probs[1:2], make_generators([22]))
    assert together[1] == alone[0]
    gens = make_generators([5, 5])
    draws = torch.stack([sample(probs[:1].expand(2, -1), gens) for _ in range(20)])
    assert torch.equal(draws[:, 0], draws[:, 1])  # same seed, same stream
    zero = torch.zeros(1, 4)
    zero[0, 2] = 1.0
    assert sample(zero, make_generators([1])).item() == 2


def test_sample_seeds_are_distinct_and_stable():
    seeds = {sample_seed(7, p, k) for p in range(20) for k in range(20)}
    assert len(seeds) == 400
    assert sample_seed(7, 1, 2) == sample_seed(7, 1, 2) != sample_seed(8, 1, 2)
    assert sample_seed(8, 0, 0) != sample_seed(7, 0, 1)  # unlike seed + piece + sample


@pytest.mark.parametrize("vocabulary, split_pitch", [("performance", None), ("duration", 55)])
def test_masked_random_streams_never_break_the_grammar(vocabulary, split_pitch):
    """Random logits through the mask for many steps: every stream stays legal and decodes to
    exactly its onsets (in the register, when one is set)."""
    vocab = get_vocabulary(vocabulary)
    batch, budget = 16, 300
    torch.manual_seed(1)
    state = vocab.grammar(batch, budget, lead_register(split_pitch)) if split_pitch else vocab.grammar(batch, budget)
    gens = make_generators(range(batch))
    streams: list[list[int]] = [[] for _ in range(batch)]
    active = torch.arange(batch)
    for _ in range(400):
        logits = torch.randn(len(active), vocab.size) * 3
        logits[:, T.TIME_SHIFT : T.VELOCITY] -= 4  # keep time slow so pitches pile up
        toks = sample(process_logits(logits, state.allowed(active)), [gens[i] for i in active.tolist()])
        for row, tok in zip(active.tolist(), state.advance(toks, active).tolist()):
            streams[row].append(tok)
        active = active[~state.done[active]]  # torch view of the state's flags
        if not len(active):
            break
    low = split_pitch + 1 if split_pitch else 0
    for row, stream in enumerate(streams):
        if stream[-1] == T.EOS:
            stream.pop()
        full = stream + state.closing_tokens(row)
        assert vocab.grammar_errors(full) == dict.fromkeys(vocab.grammar_errors([]), 0)
        notes = vocab.decode_lead(full, 0.0, budget / 100)
        assert len(notes) == sum(T.is_note_on(t) for t in full)
        assert all(low <= n.pitch and n.end > n.start and n.start < budget / 100 for n in notes)
        if not vocab.holds_past_window:
            assert all(n.end <= budget / 100 + 1e-9 for n in notes)


def test_register_mask_keeps_lead_notes_above_the_split_and_on_the_piano():
    for grammar in (GrammarState, DurationGrammar):
        state = grammar(1, 800, lead_register(60))
        ons = state.allowed()[0, T.NOTE_ON : T.NOTE_ON + 128]
        assert torch.nonzero(ons).flatten().tolist() == list(range(61, 109))
        assert state.out_of_register()[T.NOTE_ON + 60] and not state.out_of_register()[T.NOTE_ON + 61]
    assert lead_register(10) == (21, 108)


def test_duration_grammar_modes():
    state = DurationGrammar(2, 300, lead_register(60))
    allowed = state.allowed()
    assert not allowed[:, T.NOTE_OFF : T.TIME_SHIFT].any() and not allowed[:, D.DURATION :].any()
    assert allowed[0, T.EOS] and allowed[0, T.TIME_SHIFT] and not allowed[0, T.SEP]
    state.advance(torch.tensor([T.NOTE_ON + 70, T.VELOCITY + 3]))
    allowed = state.allowed()
    assert allowed[0, D.DURATION :].all() and allowed[0].sum() == D.N_DURATION  # a note gets its length
    assert allowed[1, T.NOTE_ON + 61 : T.NOTE_ON + 109].all() and allowed[1].sum() == 48  # velocity: a note
    state.advance(torch.tensor([D.TOP, T.NOTE_ON + 70]))
    allowed = state.allowed()
    assert allowed[0, D.DURATION] and allowed[0, T.TIME_SHIFT] and not allowed[0, T.NOTE_ON + 70]  # struck now
    assert state.closing_tokens(1) == [D.DURATION + D.bin_index(D.DEFAULT_TICKS), T.EOS]
    rec = state.advance(torch.tensor([T.TIME_SHIFT + 99, D.DURATION + 9]))
    assert state.allowed()[0, T.NOTE_ON + 70]  # time moved: the pitch may sound again
    state.advance(torch.tensor([T.TIME_SHIFT + 99, T.TIME_SHIFT + 99]))
    rec = state.advance(torch.tensor([T.TIME_SHIFT + 99, T.TIME_SHIFT + 99]))
    assert rec.tolist() == [T.TIME_SHIFT + 99, T.TIME_SHIFT + 99] and state.done.tolist() == [True, False]


def test_top_p_applies_to_events_but_never_cuts_a_note_length():
    logits = torch.log(torch.tensor([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]]))
    allowed = torch.ones(2, 3, dtype=torch.bool)
    probs = process_logits(logits, allowed, top_p=0.8, nucleus_rows=torch.tensor([True, False]))
    assert probs[0].tolist() == [1.0, 0.0, 0.0]  # an event: the nucleus keeps the likely one
    assert torch.allclose(probs[1], torch.tensor([0.9, 0.05, 0.05]))  # a length: the whole distribution
    state = DurationGrammar(2, 300, lead_register(60))
    state.advance(torch.tensor([T.NOTE_ON + 70, T.TIME_SHIFT]))
    assert state.nucleus_rows().tolist() == [False, True]
