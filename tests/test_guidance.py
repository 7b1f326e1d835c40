"""Listening guidance (jazz_solo/generation/guidance.py): the guided logits, and what they do to a
solo over real comping."""
from __future__ import annotations

import pytest
import torch

from jazz_solo.data import durations as D
from jazz_solo.data import tokens as T
from jazz_solo.data import vocab
from jazz_solo.data import windows
from jazz_solo.data.tokens import Note
from jazz_solo.generation.guidance import GuidedDecoder, guided_decoder
from jazz_solo.generation.kv_decode import CachedDecoder, FusedLlamaDecoder

from listening import doubling_windows, tiny_model, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SPLIT = 60


def test_moved_stream_lowers_only_the_comping():
    guided = GuidedDecoder(None, 1.0, SPLIT, D.VOCAB_SIZE)
    toks = [T.BOS, T.NOTE_ON + 48, T.NOTE_ON + 60, T.NOTE_ON + 61, T.NOTE_OFF + 48, T.NOTE_OFF + 72,
            T.NOTE_ON + 0, T.TIME_SHIFT + 3, T.VELOCITY + 5, T.SEP, T.EOS, D.DURATION + 7]
    assert guided.moved(torch.tensor(toks)) == guided.moved(toks) == [T.BOS, T.NOTE_ON + 47, T.NOTE_ON + 59, T.NOTE_ON + 61, T.NOTE_OFF + 47,
                                  T.NOTE_OFF + 72, T.NOTE_ON + 0, T.TIME_SHIFT + 3, T.VELOCITY + 5, T.SEP, T.EOS,
                                  D.DURATION + 7]


@pytest.mark.parametrize("kind", [FusedLlamaDecoder, CachedDecoder])
def test_guided_logits_are_real_plus_weight_times_what_the_real_comping_adds(kind):
    """Through prefill, steps, a dropped row and a rewind: over NOTE_ON, log p_real + w (log p_real -
    log p_moved) renormalised to the model's own NOTE_ON mass, each read by a full forward of its own
    stream; every other token as the model gives it."""
    model = tiny_model().eval()
    weight = 0.7
    guided = GuidedDecoder(kind(model), weight, SPLIT, model.config.vocab_size)
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, T.EOS, (30,), generator=gen).tolist()
    streams = [list(prompt) for _ in range(3)]

    def expected() -> torch.Tensor:
        with torch.inference_mode():
            real = torch.cat([model(input_ids=torch.tensor([s])).logits[:, -1] for s in streams])
            moved = torch.cat([model(input_ids=torch.tensor([guided.moved(s)])).logits[:, -1] for s in streams])
        real, moved = real.float().log_softmax(-1), moved.float().log_softmax(-1)
        notes = slice(T.NOTE_ON, T.NOTE_OFF)
        pitch = (real + weight * (real - moved))[:, notes]
        want = real.clone()  # only the pitch is guided: P(some NOTE_ON) and every other token stay the model's
        want[:, notes] = pitch.log_softmax(-1) + real[:, notes].logsumexp(-1, keepdim=True)
        return want

    got = guided.prefill(prompt, 3)
    for step in range(8):
        assert torch.allclose(got, expected(), atol=1e-4)
        if step == 3:  # a sample finished
            guided.keep([0, 2])
            streams = [streams[0], streams[2]]
        if step == 5:  # a tentative token taken back (the causal soloist's thinning)
            guided.step(torch.full((len(streams),), T.TIME_SHIFT + 9))
            guided.rewind(1)
        toks = torch.randint(0, T.EOS, (len(streams),), generator=gen)
        for s, t in zip(streams, toks.tolist()):
            s.append(t)
        got = guided.step(toks)


def test_no_guidance_is_the_plain_decoder():
    model = tiny_model().eval()
    assert isinstance(guided_decoder(model, 0.0, SPLIT), FusedLlamaDecoder)
    assert isinstance(guided_decoder(model, 0.5, SPLIT), GuidedDecoder)


def test_guidance_makes_a_faintly_listening_model_follow_the_comping():
    """A model trained briefly on leads that double the comping two octaves up hears it faintly
    (its first note is the right one a third of the time); guided, it is right more often. Where
    the model cannot yet tell a semitone apart (its reading over the moved comping is as sure),
    guidance has nothing to amplify and a strong weight can push the wrong way: why the default
    weight is modest (README "Listening guidance")."""
    model = train(tiny_model(), doubling_windows(64, seed=0), 100)

    def first_note_right(weight: float, pitch: int) -> float:
        cond = vocab.encode_conditioning([Note(0.5 * i, 0.5 * i + 0.4, pitch, 80) for i in range(4)], 0.0, 2.0)
        decoder = guided_decoder(model, weight, SPLIT)
        decoder.prefill(windows.prompt(cond, 256), 1)
        velocity = T.VELOCITY + T.velocity_bin(80)  # every training lead opens with it
        return float(torch.softmax(decoder.step(torch.tensor([velocity]))[0], -1)[T.NOTE_ON + pitch + 24])

    pitches = [38, 40, 43, 45, 47, 52, 57]
    plain, guided = (sum(first_note_right(w, p) for p in pitches) / len(pitches) for w in (0.0, 0.5))
    assert 0.2 < plain < 0.5 and guided > plain + 0.05, (plain, guided)
