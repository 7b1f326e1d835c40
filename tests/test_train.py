"""Training loop, pretraining and LoRA on tiny real models and synthetic two-hand music.

Two synthetic "styles" share the left hand but differ in the right hand (pitch set and
rhythm), so a base pretrained on style A and an adapter trained on style B must show
measurable learning on held-out pieces.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from jazz_solo.data import tokens
from jazz_solo.training.batching import IGNORE, batches_per_epoch, collate, epoch_batches, lead_labels
from jazz_solo.training.nll import chance_nll, lead_loss_sum, mean_nll
from jazz_solo.training.lora import train_lora
from jazz_solo.data.midi_io import split_roles
from jazz_solo.training.model import adapter_base_dir, build_model, load_for_inference
from jazz_solo.settings import LoraSettings, ModelSettings, TrainSettings
from jazz_solo.data.tokens import Note
from jazz_solo.training.loop import TrainingDiverged, lr_factor, pretrain, read_log
from jazz_solo.data.windows import WindowSet, build_example, encode_window, window_starts

from listening import doubling_windows, tiny_model, train
from png_checks import assert_figure

# style -> (right-hand pitch set, note spacing in seconds)
STYLES = {"a": ([64, 65, 67, 69, 71, 72, 74, 76], 0.25), "b": ([61, 63, 66, 68, 70, 73, 75, 78], 1 / 3)}
TINY_MODEL = ModelSettings.from_config({"n_layer": 1, "n_embd": 64, "n_head": 2, "intermediate_size": 128, "dropout": 0.1})
PRETRAIN = TrainSettings.from_config({"max_steps": 30, "batch_size": 8, "lr": 5e-3, "warmup_steps": 4, "eval_every": 10,
            "checkpoint_every": 2, "patience": 3, "grad_clip": 1.0, "weight_decay": 0.01})
LORA = LoraSettings.from_config({"r": 8, "alpha": 16, "dropout": 0.0, "lr": 5e-3, "target_modules": ["q_proj", "v_proj", "up_proj", "down_proj"],
        "max_steps": 30, "batch_size": 8, "warmup_steps": 3, "eval_every": 10, "checkpoint_every": 10, "patience": 3})


def synthetic_piece(style: str, seconds: float, seed: int) -> list[Note]:
    rng = random.Random(seed)
    pitches, spacing = STYLES[style]
    chords = [(48, 52, 55), (50, 53, 57), (43, 47, 50), (48, 52, 55)]
    notes = [Note(i * 0.5, i * 0.5 + 0.45, p, 60 + rng.randrange(20))
             for i in range(int(seconds / 0.5)) for p in chords[i // 4 % 4]]
    notes += [Note(i * spacing, i * spacing + spacing * 0.8, rng.choice(pitches), 70 + rng.randrange(30))
              for i in range(int(seconds / spacing))]
    return notes


def synthetic_windows(style: str, pieces: int, seed: int, seconds: float = 12.0, window: float = 4.0) -> WindowSet:
    """Windows ``BOS cond SEP lead EOS`` of synthetic pieces, built with the real data code."""
    seqs, seps = [], []
    for k in range(pieces):
        cond, lead = split_roles(synthetic_piece(style, seconds, seed * 1000 + k), 60)
        for start in window_starts(seconds, window, window / 2):
            seq, sep = build_example(encode_window(cond, start, window), encode_window(lead, start, window), 128, 256)
            seqs.append(seq)
            seps.append(sep)
    return WindowSet.from_sequences(seqs, seps)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("windows")
    sets = {"a_train": ("a", 12, 0), "a_val": ("a", 3, 1), "b_train": ("b", 6, 2), "b_val": ("b", 3, 3)}
    paths = {}
    for name, (style, pieces, seed) in sets.items():
        paths[name] = root / f"{name}.npz"
        synthetic_windows(style, pieces, seed).save(paths[name])
    return paths


def run_pretrain(data, out: Path, settings=PRETRAIN, **kw):
    return pretrain(data["a_train"], data["a_val"], TINY_MODEL, settings, 7, out / "model",
                    out / "train_log.csv", out / "loss.png", device="cpu", **kw)


@pytest.fixture(scope="module")
def base(data, tmp_path_factory) -> Path:
    """A tiny base pretrained on style A (the uninterrupted reference run)."""
    out = tmp_path_factory.mktemp("base")
    run_pretrain(data, out)
    return out


def test_labels_cover_only_lead_and_eos():
    ws = synthetic_windows("a", 2, 0)
    batch = collate(ws, [0, 1, 2])
    for row, i in enumerate([0, 1, 2]):
        seq, sep = ws[i], int(ws.sep_pos[i])
        assert seq[sep] == tokens.SEP
        labels = batch.labels[row].numpy()
        assert (labels[: sep + 1] == IGNORE).all()  # BOS, conditioning, SEP: no loss
        assert (labels[sep + 1 : len(seq)] == seq[sep + 1 :]).all()  # lead + EOS
        assert labels[len(seq) - 1] == tokens.EOS
        assert (labels[len(seq) :] == IGNORE).all()  # PAD: no loss
        assert (batch.input_ids[row, len(seq) :] == tokens.PAD).all()
    assert (lead_labels(ws[0], int(ws.sep_pos[0])) != IGNORE).sum() == len(ws[0]) - ws.sep_pos[0] - 1
    # The loss counts exactly the lead targets (predictions at positions sep_pos .. len-2).
    model = build_model(TINY_MODEL, seed=0)
    _, count = lead_loss_sum(model, batch)
    assert count == sum(len(ws[i]) - int(ws.sep_pos[i]) - 1 for i in [0, 1, 2])


def test_conditioning_changes_do_not_change_the_loss_targets():
    # Replacing the conditioning changes the loss only through attention, never by adding targets.
    ws = synthetic_windows("a", 1, 0)
    seq, sep = ws[0].copy(), int(ws.sep_pos[0])
    seq2 = seq.copy()
    seq2[1:sep] = tokens.NOTE_ON + 40
    a = collate(WindowSet.from_sequences([seq], [sep]), [0])
    b = collate(WindowSet.from_sequences([seq2], [sep]), [0])
    assert torch.equal(a.labels, b.labels)


def test_bucketing_is_deterministic_complete_and_pads_less():
    lengths = np.random.default_rng(0).integers(20, 500, size=1000)
    first = epoch_batches(lengths, 16, seed=3, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in epoch_batches(lengths, 16, seed=3, epoch=0)]
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    assert len(first) == batches_per_epoch(1000, 16)
    assert [b.tolist() for b in first] != [b.tolist() for b in epoch_batches(lengths, 16, seed=3, epoch=1)]
    naive = epoch_batches(lengths, 16, seed=3, epoch=0, bucket=False)
    assert len(naive) == batches_per_epoch(1000, 16, bucket=False)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(first) < 0.75 * padded(naive)


def test_lr_warms_up_then_decays_by_cosine():
    lrs = [lr_factor(k, 10, 100) for k in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(x >= y for x, y in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_pretrain_learns_and_writes_outputs(base):
    rows = read_log(base / "train_log.csv")
    assert [r["step"] for r in rows] == list(range(PRETRAIN.max_steps + 1))
    assert set(rows[0]) == {"step", "train_loss", "val_loss", "lr", "tokens_per_s"}
    vals = [r["val_loss"] for r in rows if r["val_loss"] is not None]
    assert vals[0] > chance_nll(392) - 0.5 and min(vals) < 2.5  # from ~chance to far below it
    assert (base / "model" / "config.json").is_file() and (base / "model" / "model.safetensors").is_file()
    # the figure shows the run: the smoothed train loss (blue) and the val points (orange), 7 x 4 in at 100 dpi
    assert_figure(base / "loss.png", 700, 400, {"tab:blue": 200, "tab:orange": 40})
    assert not (base / "checkpoint").exists()  # resume state removed once outputs are written


def test_same_seed_gives_identical_weights(data, base, tmp_path):
    run_pretrain(data, tmp_path)
    a, b = load_file(base / "model" / "model.safetensors"), load_file(tmp_path / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Killed(Exception):
    pass


def test_killed_run_resumes_from_checkpoint_exactly(data, base, tmp_path):
    def kill_at_5(step):
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        run_pretrain(data, tmp_path, on_step=kill_at_5)
    assert (tmp_path / "checkpoint" / "state.pt").is_file()  # checkpoint of step 4 survives
    assert not (tmp_path / "model").exists()  # outputs only at the end

    result = run_pretrain(data, tmp_path)
    assert result.resumed_from == 4
    rows = read_log(tmp_path / "train_log.csv")
    assert [r["step"] for r in rows] == list(range(PRETRAIN.max_steps + 1))  # no gap, no repeat
    # dropout is on (0.1), so this also checks that the RNG state was restored
    a, b = load_file(base / "model" / "model.safetensors"), load_file(tmp_path / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_of_another_config_is_ignored(data, tmp_path):
    def kill_at_3(step):
        if step == 3:
            raise Killed

    short = dataclasses.replace(PRETRAIN, max_steps=6)
    with pytest.raises(Killed):
        run_pretrain(data, tmp_path, settings=short, on_step=kill_at_3)
    result = run_pretrain(data, tmp_path, settings=dataclasses.replace(short, lr=1e-3))
    assert result.resumed_from == 0


def test_adapter_beats_base_on_its_target_and_loads(data, base, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    train_lora(base / "model", data["b_train"], data["b_val"], LORA, 7, out / "adapter",
               out / "train_log.csv", out / "loss.png", out / "eval.json", device="cpu")
    report = json.loads((out / "eval.json").read_text())
    assert report["chance_nll"] == pytest.approx(math.log(537))  # the duration vocabulary's size
    assert report["adapter_nll"] < report["base_nll"] - 0.5, report
    assert report["adapter_nll_per_note"] < report["base_nll_per_note"] and report["val_notes"] > 0
    assert json.loads((out / "adapter" / "data_settings.json").read_text())["vocabulary"] == "duration"
    assert report["improvement"] == pytest.approx(report["base_nll"] - report["adapter_nll"])
    assert report["train_windows"] == len(WindowSet.load(data["b_train"]))  # hand-made: untransposed
    assert all(math.isfinite(report[f"{m}_listening_gain"]) for m in ("base", "adapter"))

    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert not Path(cfg["base_model_name_or_path"]).is_absolute()
    assert adapter_base_dir(out / "adapter") == (base / "model").resolve()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not (out / "checkpoint").exists()

    # The saved adapter reproduces the reported NLL through both loading paths.
    from peft import PeftModel

    from jazz_solo.training.model import load_base

    val = WindowSet.load(data["b_val"])
    peft_model = PeftModel.from_pretrained(load_base(base / "model"), str(out / "adapter"))
    assert mean_nll(peft_model, val)[0] == pytest.approx(report["adapter_nll"], abs=1e-4)
    merged = load_for_inference(out / "adapter")
    assert mean_nll(merged, val)[0] == pytest.approx(report["adapter_nll"], abs=1e-3)


def test_lora_trains_on_the_transpositions_it_names(data, base, tmp_path):
    """lora.transpose picks train windows by the transposition the index beside them records."""
    from jazz_solo.data.dataset import INDEX_COLUMNS, index_path
    from jazz_solo.data.ingest import write_tsv

    train = tmp_path / "target_train.npz"
    ws = WindowSet.load(data["b_train"])
    ws.save(train)
    shifts = [(i % 3) - 1 for i in range(len(ws))]  # -1, 0, +1, -1, ...
    write_tsv(index_path(train), INDEX_COLUMNS, (("p", 0.0, k, 0, 0, len(ws[i])) for i, k in enumerate(shifts)))
    short = dataclasses.replace(LORA, max_steps=2, eval_every=1)
    for keys, expected in (([0, 0], shifts.count(0)), ([-1, 0], shifts.count(0) + shifts.count(-1))):
        out = tmp_path / str(keys)
        train_lora(base / "model", train, data["b_val"], dataclasses.replace(short, transpose=keys), 7, out / "adapter",
                   out / "log.csv", out / "loss.png", out / "eval.json", device="cpu")
        assert json.loads((out / "eval.json").read_text())["train_windows"] == expected


def test_diverging_lora_stops_with_clear_error_and_writes_nothing(data, base, tmp_path):
    with pytest.raises(TrainingDiverged, match="diverged; lower the lr"):
        train_lora(base / "model", data["b_train"], data["b_val"], dataclasses.replace(LORA, lr=1e30, warmup_steps=0), 7,
                   tmp_path / "adapter", tmp_path / "train_log.csv", tmp_path / "loss.png", tmp_path / "eval.json",
                   device="cpu")
    assert not (tmp_path / "adapter").exists() and not (tmp_path / "eval.json").exists()


def test_listening_gain_sees_a_model_that_follows_its_comping(one_torch_thread):
    from jazz_solo.training.nll import listening_gain, with_comping_moved

    ws = doubling_windows(64, seed=0)
    moved = with_comping_moved(ws, 1)
    for i in range(len(ws)):  # the comping's pitches move, the lead and the timing stay
        sep = int(ws.sep_pos[i])
        before, after = ws[i].astype(int), moved[i].astype(int)
        assert np.array_equal(before[sep:], after[sep:])
        pitch = before[:sep] < tokens.TIME_SHIFT
        assert np.array_equal(after[:sep][pitch] % 128, before[:sep][pitch] % 128 + 1)
        assert np.array_equal(after[:sep][~pitch], before[:sep][~pitch])

    model = tiny_model()
    untrained = listening_gain(model, ws)
    trained = listening_gain(train(model, ws, 150), ws)
    assert abs(untrained) < 0.1 and trained > 1.0  # nats per lead note
