"""Window-by-window generation with a real tiny base + LoRA adapter (random weights, so the grammar
mask does most of the work): no lost notes, reproducible bytes, continuity timing, CLI and rule."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pretty_midi
import pytest
import torch
import yaml
from peft import LoraConfig, get_peft_model

from jazz_solo import sweep
from jazz_solo.__main__ import main as cli_main
from jazz_solo.data import durations as D
from jazz_solo.data import tokens as T
from jazz_solo.config import load_config
from jazz_solo.generation.generate import GenSettings, SoloGenerator, generate_piece, run_generate, write_sample
from jazz_solo.generation.kv_decode import CachedDecoder, FusedLlamaDecoder, make_decoder
from jazz_solo.training.lora import save_adapter
from jazz_solo.data.midi_io import split_roles, write_midi
from jazz_solo.training.model import build_model, load_for_inference, save_base
from jazz_solo.generation.sampling import sample_seed
from jazz_solo.settings import ModelSettings, Settings
from jazz_solo.data.tokens import Note

from conftest import PROJECT_ROOT, comping_and_lead

TINY = ModelSettings.from_config({"n_layer": 1, "n_embd": 32, "n_head": 2, "intermediate_size": 64})


def gen_settings(**changes) -> GenSettings:
    """The schema's generation defaults with every token sampled (top_p 1) and no carried-over
    lead (continuity 0) unless a test says otherwise: the sampling these tests were written for."""
    return GenSettings.defaults(**{"top_p": 1.0, "continuity_seconds": 0.0, **changes})


def make_adapter(root: Path, vocabulary: str = "duration", **data) -> Path:
    """A random tiny base (save_base) + a LoRA adapter with non-zero weights, base path relative;
    ``data``: other recorded data settings (sequence="causal", ...)."""
    base = build_model(TINY, seed=0, data={"vocabulary": vocabulary, "split_pitch": 60, **data})
    save_base(base, root / "base")
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    return save_adapter(get_peft_model(base, lora), root / "adapter", root / "base")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module", params=["performance", "duration"])
def vocabulary(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(tmp_path_factory, vocabulary):
    return load_for_inference(make_adapter(tmp_path_factory.mktemp(vocabulary), vocabulary), device="cpu")


def cond_of(seconds: float, seed: int = 0) -> list[Note]:
    return split_roles(comping_and_lead(seconds, seed), 60)[0]


def cut_restrikes(notes: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """A note of a pitch struck again while sounding ends at the new onset (what MIDI can hold)."""
    out = []
    for on, off, pitch in sorted(notes, key=lambda n: (n[2], n[0])):
        if out and out[-1][2] == pitch and out[-1][1] > on:
            out[-1] = (out[-1][0], on, pitch)
        out.append((on, off, pitch))
    return out


def notes_of_stream(stream: list[int], origin_tick: int) -> list[tuple[int, int, int]]:
    """Reference reading of a legal lead stream, either vocabulary: (on, off, pitch) ticks of each
    NOTE_ON/NOTE_OFF pair, or of each NOTE_ON and the DURATIONs that follow it."""
    now, open_, out = origin_tick, {}, []
    for i, tok in enumerate(stream):
        if tok == T.EOS:
            break
        if T.is_time_shift(tok):
            now += tok - T.TIME_SHIFT + 1
        elif D.is_duration(tok):
            on, off, pitch = out[-1]
            out[-1] = (on, off + D.BIN_TICKS[tok - D.DURATION], pitch)
        elif T.is_note_on(tok) and D.is_duration(stream[i + 1]):
            out.append((now, now, tok - T.NOTE_ON))
        elif T.is_note_on(tok):
            assert tok not in open_, "NOTE_ON of a sounding pitch"
            open_[tok] = now
        elif T.is_note_off(tok):
            assert tok - T.NOTE_OFF in open_, "NOTE_OFF of a silent pitch"
            out.append((open_.pop(tok - T.NOTE_OFF), now, tok - T.NOTE_OFF))
    assert not open_, "notes left open at EOS"
    assert all(off > on for on, off, _ in out), "a note without duration"
    return out


def read_track(path: Path, name: str) -> list[tuple[int, int, int]]:
    pm = pretty_midi.PrettyMIDI(str(path))
    (inst,) = [i for i in pm.instruments if i.name == name]
    return sorted((round(n.start * 100), round(n.end * 100), n.pitch) for n in inst.notes)


def test_every_sampled_note_survives_into_the_midi(model, vocabulary, tmp_path):
    """Many sampled streams (3 pieces x 6 samples, hot sampling): the written MIDI has exactly the
    notes the token streams describe, all in the lead's register, and no grammar errors."""
    settings = gen_settings(window_seconds=4.0, temperature=1.5, top_p=1.0, max_new_tokens=160,
                           vocabulary=vocabulary, split_pitch=60)
    total = 0
    for piece in range(3):
        cond = cond_of(10.0, seed=piece)
        session = SoloGenerator(model, settings, [sample_seed(3, piece, k) for k in range(6)])
        for _ in range(3):
            session.next_window(cond, until=10.0)
        assert session.cursor == 1000
        for k, stream in enumerate(session.streams):
            expected = []
            windows = iter(session.window_log)
            start = 0
            for j, tok in enumerate(stream):  # one EOS per window
                if tok == T.EOS:
                    origin, end = next(windows)
                    window = stream[start : j + 1]
                    assert sum(settings.vocab.grammar_errors(window).values()) == 0
                    window_notes = notes_of_stream(window, origin)
                    assert all(origin <= on < end for on, _, _ in window_notes)
                    if vocabulary == "performance":  # the duration vocabulary's notes may ring past the end
                        assert all(off <= end for _, off, _ in window_notes)
                    expected += window_notes
                    start = j + 1
            expected = cut_restrikes(expected)
            assert all(60 < pitch <= 108 for _, _, pitch in expected)  # the register mask
            midi, solo_midi = write_sample(tmp_path / f"p{piece}_s{k}.mid", cond, session.solos[k])
            assert read_track(midi, "solo") == sorted(expected) == read_track(solo_midi, "solo")
            assert len(read_track(midi, "comping")) == len(cond)
            total += len(expected)
    assert total > 120  # the random model plays plenty of notes: the mask was exercised


def test_batch_mates_do_not_change_a_sample(model, vocabulary):
    cond = cond_of(8.0)
    settings = gen_settings(window_seconds=4.0, max_new_tokens=120, vocabulary=vocabulary)
    together = generate_piece(model, cond, 8.0, settings, [11, 22, 33])
    alone = generate_piece(model, cond, 8.0, settings, [22])
    assert together.solos[1] == alone.solos[0]
    assert together.solos[0] != together.solos[1]


def test_continuity_tail_is_timed_from_the_shared_origin(model, vocabulary):
    """With continuity the origin moves back by continuity_seconds (at most half a window), the
    forced tail re-encodes each sample's own last notes from there, and the sampled part starts at
    the cursor."""
    cond = cond_of(20.0)
    settings = gen_settings(window_seconds=4.0, continuity_seconds=1.5, max_new_tokens=160, vocabulary=vocabulary)
    session = SoloGenerator(model, settings, [1, 2, 3])
    session.next_window(cond)
    while session.cursor < 2000:
        origin, tails = session.plan()
        assert origin == session.cursor - 150
        for solo, tail in zip(session.solos, tails):
            assert sum(T.is_time_shift(t) and t - T.TIME_SHIFT + 1 for t in tail) == session.cursor - origin
            kept = [n for n in solo if T.to_tick(n.start) >= origin]
            same = lambda n: (n.start, n.end, n.pitch, T.velocity_bin(n.velocity))  # noqa: E731
            decoded = settings.vocab.decode_lead(tail, origin / 100, session.cursor / 100)
            assert [same(n) for n in decoded] == [same(n) for n in kept]
        session.next_window(cond, until=20.0)
    assert session.cursor == 2000
    assert all(o == prev_end - 150 for (o, _), (_, prev_end) in zip(session.window_log[1:], session.window_log))
    assert session.plan()[0] == 2000 - 150
    assert GenSettings.defaults(window_seconds=4.0).window_ticks // 2 == 200  # the cap
    for solo in session.solos:
        by_pitch: dict[int, float] = {}
        for n in sorted(solo):
            assert 0 <= n.start < n.end
            assert n.start >= by_pitch.get(n.pitch, 0.0)  # no overlapping notes of one pitch
            by_pitch[n.pitch] = n.end


def test_piece_end_shortens_held_notes(model, vocabulary):
    """A note that would sound past the end of the conditioning is shortened there, not dropped."""
    settings = gen_settings(window_seconds=4.0, max_new_tokens=160, vocabulary=vocabulary)
    res = generate_piece(model, cond_of(6.0), 6.0, settings, [5, 6])
    assert all(n.end <= 6.0 and n.start < 6.0 for solo in res.solos for n in solo)
    assert all(0 <= m["register"] <= 1 and 0 <= m["grammar"] <= 1 for m in res.masked_mass)


def pieces_table(tmp_path: Path, make_midi) -> Path:
    rows = ["piece_id\tpath\tartist\tsource\tsplit\tnotes\tseconds"]
    for i, (source, split) in enumerate([("target", "test"), ("corpus", "test"), ("target", "train"), ("target", "test")]):
        path = make_midi(f"piece{i}.mid", seconds=10.0, seed=i)
        rows.append(f"p{i}\t{path}\tA\t{source}\t{split}\t0\t10")
    (tmp_path / "pieces.tsv").write_text("\n".join(rows) + "\n")
    return tmp_path / "pieces.tsv"


def test_run_generate_same_seed_same_bytes(adapter, tmp_path, make_midi):
    s = Settings.from_config(load_config())
    gen = dataclasses.replace(s.generate, num_pieces=5, num_samples=2, max_seconds=9.0, max_new_tokens=100)
    data = dataclasses.replace(s.data, window_seconds=4.0)
    pieces = pieces_table(tmp_path, make_midi)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines = run_generate(adapter, pieces, tmp_path / "a", tmp_path / "a.jsonl", gen, data, device="cpu")
    assert not [w for w in caught if "past_key_values" in str(w.message)]  # the KV cache kwarg is current
    run_generate(adapter, pieces, tmp_path / "b", tmp_path / "b.jsonl", gen, data, device="cpu")
    run_generate(adapter, pieces, tmp_path / "c", tmp_path / "c.jsonl", dataclasses.replace(gen, seed=8), data, device="cpu")
    assert [(r["piece_id"], r["sample"]) for r in lines] == [("p0", 0), ("p0", 1), ("p3", 0), ("p3", 1)]
    assert [r["seed"] for r in lines] == [sample_seed(gen.seed, p, k) for p in (0, 1) for k in (0, 1)]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(f"p{p}_s{k}{ext}" for p in (0, 3) for k in (0, 1) for ext in (".mid", ".solo.mid"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert any((tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes() for n in names)
    line = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert set(line) >= {"piece_id", "sample", "seed", "midi", "solo_midi", "prompt_tokens", "new_tokens",
                         "seconds", "wall_s", "grammar_errors", "lead_notes"}
    assert 8.5 < line["seconds"] <= 9.0 and sum(line["grammar_errors"].values()) == 0
    assert line["lead_notes"] == len(read_track(Path(line["solo_midi"]), "solo")) > 0


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real entry point (`python -m jazz_solo generate ...`), in-process: (rc, stdout, stderr)."""
    rc = cli_main(["generate", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_writes_samples_and_rejects_bad_conditioning(adapter, tmp_path, make_midi, capsys):
    good = make_midi("good.mid", seconds=6.0)
    rc, out, err = run_cli(capsys, "--adapter", str(adapter), "--conditioning", str(good), "--out",
                           str(tmp_path / "out.mid"), "--num-samples", "2", "--window-seconds", "3",
                           "--temperature", "0.9", "--top-k", "40", "--device", "cpu")
    assert rc == 0, err
    for k in (0, 1):
        assert read_track(tmp_path / f"out_s{k}.mid", "solo") == read_track(tmp_path / f"out_s{k}.solo.mid", "solo")
    assert json.loads(out.splitlines()[0])["seconds"] > 5

    not_midi = tmp_path / "notes.txt"
    not_midi.write_text("C E G")
    high = write_midi(tmp_path / "high.mid", {"rh": [Note(0.0, 1.0, 72, 80)]})
    for bad in (not_midi, high):
        rc, _, err = run_cli(capsys, "--adapter", str(adapter), "--conditioning", str(bad), "--out",
                             str(tmp_path / "x.mid"))
        assert rc == 2
        assert len(err.strip().splitlines()) == 1 and str(bad) in err
    rc, _, err = run_cli(capsys, "--adapter", str(adapter), "--conditioning", str(good), "--out",
                         str(tmp_path / "x.mid"), "--top-p", "1.5")
    assert rc == 2 and "generate.top_p" in err


def test_generate_rule_runs_in_snakemake(tmp_path, make_midi):
    """The real rule on a tiny config, with the adapter and pieces.tsv already in place."""
    work = tmp_path / "work"
    config = {"generate": {"num_pieces": 1, "num_samples": 2, "max_seconds": 6.0, "max_new_tokens": 64},
              "data": {"window_seconds": 4.0}, "sweep": {"temperature": [0.9]}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    combo = sweep.combinations(load_config(tmp_path / "tiny.yaml"), "gen")[0]
    make_adapter_at = work / "results" / "train" / sweep.instance("train", combo)
    make_adapter_at.mkdir(parents=True)
    make_adapter(make_adapter_at)
    (work / "results" / "data").mkdir(parents=True)
    pieces_table(tmp_path, make_midi).rename(work / "results" / "data" / "pieces.tsv")
    target = f"results/gen/{sweep.instance('gen', combo)}/samples.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", target, "--snakefile", str(PROJECT_ROOT / "Snakefile"), "--directory",
         str(work), "--configfile", str(tmp_path / "tiny.yaml"), "--cores", "1", "--allowed-rules", "generate"],
        capture_output=True, text=True, cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(x) for x in (work / target).read_text().splitlines()]
    assert [(x["piece_id"], x["sample"]) for x in lines] == [("p0", 0), ("p0", 1)]
    assert (work / "results" / "logs" / "generate" / (sweep.instance("gen", combo) + ".log")).is_file()


def test_fused_decoder_matches_the_transformers_forward(adapter):
    """The lean KV-cache decoder gives the logits of a plain full forward (prefill, steps, batch, keep)."""
    merged = load_for_inference(adapter, device="cpu")
    assert isinstance(make_decoder(merged), FusedLlamaDecoder)
    assert isinstance(make_decoder(load_for_inference(adapter, device="cpu", merge=False)), CachedDecoder)
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, T.EOS, (40,), generator=gen).tolist()
    fused, hf = FusedLlamaDecoder(merged, capacity=8), CachedDecoder(merged)  # capacity 8: the buffers grow
    seqs = [list(prompt) for _ in range(3)]
    a, b = fused.prefill(prompt, 3), hf.prefill(prompt, 3)
    with torch.inference_mode():
        for step in range(12):
            full = torch.cat([merged(input_ids=torch.tensor([s])).logits[:, -1] for s in seqs])
            assert torch.allclose(a, full, atol=1e-5) and torch.allclose(b, full, atol=1e-5)
            if step == 6:  # drop the middle row, as when a sample finishes
                fused.keep([0, 2]), hf.keep([0, 2])
                seqs, a = [seqs[0], seqs[2]], a[[0, 2]]
            toks = torch.randint(0, T.EOS, (len(seqs),), generator=gen)
            for s, t in zip(seqs, toks.tolist()):
                s.append(t)
            a, b = fused.step(toks), hf.step(toks)


def test_eos_margin_keeps_a_window_from_falling_silent_early(model, vocabulary):
    """generate.eos_margin_seconds: EOS (the rest of the window silent) only that close to its end."""
    from jazz_solo.data import vocab
    from jazz_solo.generation.generate import generate_window
    from jazz_solo.generation.sampling import make_generators

    settings = gen_settings(window_seconds=4.0, max_new_tokens=400, vocabulary=vocabulary, eos_margin_seconds=0.0)
    cond = vocab.encode_conditioning(cond_of(4.0), 0.0, 4.0)

    def eos_ends(s: GenSettings) -> list[int]:
        """For every sample that ended by EOS, the ticks left in the window then."""
        out = generate_window(model, cond, s, make_generators(range(64)))
        # the sampled tokens before the EOS (the closing a window gets comes after them)
        return [out.budget_ticks - sum(t - T.TIME_SHIFT + 1 for t in lead[: n - 1] if T.is_time_shift(t))
                for lead, n, why in zip(out.lead, out.sampled, out.finish) if why == "eos"]

    assert any(left > 50 for left in eos_ends(settings))  # 0: EOS whenever sampled
    late = eos_ends(dataclasses.replace(settings, eos_margin_seconds=0.5))
    assert all(left <= 50 for left in late)
