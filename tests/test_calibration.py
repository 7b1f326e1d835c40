"""Style reference, calibration rows, copy check, honesty flags and the "all-linear" LoRA target."""
from __future__ import annotations

import json
import random
import shutil

import pandas as pd
import pytest
import torch

from conftest import comping_and_lead
from jazz_solo import sweep
from jazz_solo.evaluation import calibration, copycheck, scoring
from jazz_solo.selection import honesty, leaderboard
from jazz_solo.config import ConfigError, deep_merge, load_config, validate_config
from jazz_solo.training.lora import save_adapter, wrap
from jazz_solo.training.model import build_model, save_base
from jazz_solo.settings import LoraSettings, ModelSettings, Settings
from jazz_solo.data.tokens import Note

TINY_MODEL = ModelSettings.from_config({"n_layer": 1, "n_embd": 32, "n_head": 2, "intermediate_size": 64, "dropout": 0.0})


def melody(n: int, seed: int, start: float = 0.0) -> list[Note]:
    rng = random.Random(seed)
    t, notes = start, []
    for _ in range(n):
        d = rng.choice([0.15, 0.25, 0.5, 0.75])
        notes.append(Note(t, t + d, rng.randint(62, 90), 80))
        t += d
    return notes


# --- copy check ---------------------------------------------------------------------------


def test_copy_check_finds_a_replayed_phrase_in_another_key(tmp_path):
    training = {"a": melody(300, 1), "b": melody(300, 2)}
    path = copycheck.write_phrases(tmp_path / "phrases.json", training)
    index = copycheck.load_index(path)
    assert index.pieces == 2
    # 12 notes of piece b, a minor third up and 30 s later, between notes of another melody
    phrase = [n._replace(start=n.start + 30, end=n.end + 30, pitch=n.pitch + 3) for n in training["b"][100:112]]
    before, after = melody(20, 3, start=0.0), melody(20, 4, start=40.0)
    assert index.longest_run(before + phrase + after) == 12
    assert index.longest_run(melody(200, 5)) <= 4  # unrelated notes share only short runs
    assert index.longest_run(training["a"]) == 300  # a whole training piece
    assert index.longest_run([]) == 0
    # a run never spans two training pieces
    joined = copycheck.PhraseIndex([copycheck.steps(training["a"][-5:]), copycheck.steps(training["b"][:5])])
    assert joined.longest_run(training["a"][-5:] + [n._replace(start=n.start + 999) for n in training["b"][:5]]) == 5


def test_copy_check_file_errors_name_the_file(tmp_path):
    (tmp_path / "junk.json").write_text("[]")
    with pytest.raises(ValueError, match="junk.json: not a phrases file"):
        copycheck.load_index(tmp_path / "junk.json")


# --- reference pieces and calibration rows ------------------------------------------------


def pieces_tsv(tmp_path, make_midi, layout: dict[str, tuple[str, str]]) -> str:
    """pieces.tsv of real MIDI: {piece_id: (source, split)}; target pieces share one style."""
    lines = ["piece_id\tpath\tartist\tsource\tsplit\tnotes\tseconds"]
    for i, (pid, (source, split)) in enumerate(layout.items()):
        notes = comping_and_lead(20.0, seed=i)
        if source == "corpus":  # another "artist": sparse low-register lead, long notes
            notes = [n._replace(end=n.start + 1.5, pitch=n.pitch - 8) if n.pitch > 60 else n for n in notes[::3]]
        lines.append(f"{pid}\t{make_midi(pid + '.mid', notes=notes)}\tX\t{source}\t{split}\t0\t20")
    path = tmp_path / "pieces.tsv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_reference_pieces_default_named_folder_and_warning(tmp_path, make_midi):
    layout = {f"t{i}": ("target", split) for i, split in enumerate(["train"] * 4 + ["val", "test"])}
    tsv = pieces_tsv(tmp_path, make_midi, {**layout, "c0": ("corpus", "train")})
    assert [p for p, _ in calibration.reference_pieces(tsv, None)] == ["t0", "t1", "t2", "t3", "t4"]  # not the test piece
    only_test = pieces_tsv(tmp_path, make_midi, {"t0": ("target", "test")})
    assert [p for p, _ in calibration.reference_pieces(only_test, None)] == ["t0"]
    live = tmp_path / "live" / "Artist"
    live.mkdir(parents=True)
    shutil.copy(tmp_path / "t0.mid", live / "x.mid")
    assert [p for p, _ in calibration.reference_pieces(tsv, [str(live)])] == ["Artist/x.mid"]
    with pytest.raises(ValueError, match="evaluate.reference"):
        calibration.reference_pieces(tsv, [str(tmp_path / "nothing-here")])
    assert "2 piece(s)" in calibration.reference_warning(2, 8) and calibration.reference_warning(8, 8) is None


def test_calibration_rows_order_real_corpus_random(tmp_path, make_midi):
    layout = {f"t{i}": ("target", "train" if i < 8 else "test") for i in range(10)}
    layout |= {f"c{i}": ("corpus", "test") for i in range(3)}
    tsv = pieces_tsv(tmp_path, make_midi, layout)
    ref = scoring.build_reference(calibration.reference_pieces(tsv, None), 60, 16.0, 180)
    assert ref["count"] == 8
    index = copycheck.PhraseIndex(copycheck.steps(calibration.real_parts(path, 60, None)[1])
                                  for _, path in calibration.pieces_where(tsv, "target", ["train"]))
    result = calibration.build_calibration(tsv, ref, index, 60, 16.0, 180, num_pieces=1, num_samples=3,
                                           corpus_pieces=2, seed=0)
    rows = result["rows"]
    assert [rows[k]["summary"]["num_samples"] for k in ("real_held_out", "corpus_artists", "random_notes")] == [2, 2, 3]
    distance = {k: r["realism_distance"] for k, r in rows.items()}
    assert distance["real_held_out"] < distance["corpus_artists"] and distance["real_held_out"] < distance["random_notes"]
    assert rows["real_held_out"]["summary"]["max_copy_run"] >= 1
    # the real right hand over the comping the random notes (and the candidates) play over: test piece 1 of 2
    same = rows["real_same_comping"]
    assert same["summary"]["num_samples"] == 1
    assert {f["piece_id"] for f in same["files"]} == {f["piece_id"] for f in rows["random_notes"]["files"]}
    assert same["files"][0] in rows["real_held_out"]["files"]
    again = calibration.build_calibration(tsv, ref, index, 60, 16.0, 180, 1, 3, 2, 0)
    assert again["rows"]["random_notes"]["files"] == rows["random_notes"]["files"]  # seeded


# --- honesty ------------------------------------------------------------------------------


def adapter(tmp_path, name: str, base_dir, nonzero: bool) -> tuple:
    lora = LoraSettings.from_config({"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    model = wrap(build_model(TINY_MODEL, seed=0), lora, seed=0)
    if nonzero:
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.fill_(0.01)
    out = save_adapter(model, tmp_path / name / "adapter", base_dir)
    return out, model


def test_honesty_flags_zero_gain_zero_and_identical_adapters(tmp_path):
    base_dir = save_base(build_model(TINY_MODEL, seed=0), tmp_path / "base")
    zero, _ = adapter(tmp_path, "zero", base_dir, nonzero=False)
    trained, _ = adapter(tmp_path, "trained", base_dir, nonzero=True)
    twin = tmp_path / "twin" / "adapter"
    shutil.copytree(trained, twin)
    for name, gain in (("zero", 0.0), ("trained", 0.05), ("twin", 0.05)):
        (tmp_path / name / "eval.json").write_text(json.dumps({"improvement": gain, "improvement_pct": gain * 20,
                                                               "base_nll": 2.5, "adapter_nll": 2.5 - gain}))
    facts = {t: honesty.adapter_facts(tmp_path / t / "eval.json", tmp_path / t / "adapter")
             for t in ("zero", "trained", "twin")}
    assert facts["zero"]["zero"] and not facts["trained"]["zero"]
    flags = {t: honesty.adapter_flags(t, facts) for t in facts}
    assert any("not better than the base" in f for f in flags["zero"])
    assert any("this is the base model" in f for f in flags["zero"])
    assert flags["trained"] == ["adapter byte-identical to twin"] and flags["twin"] == ["adapter byte-identical to trained"]
    assert honesty.copy_flag(30, 9).startswith("replays training pieces?") and honesty.copy_flag(5, 9) is None


def test_leaderboard_shows_calibration_rows_and_best_json_warns(tmp_path):
    cand = {"split_pitch~60/lora_r~4": 0.8, "split_pitch~60/lora_r~8": 0.5}
    metrics = {c: {"status": "ok", "realism_distance": d, "summary": {"avg_lead_notes": 40.0, "max_copy_run": 5.0}}
               for c, d in cand.items()}
    frame = leaderboard.build(metrics)
    facts = {c: {"adapter_gain": g, "adapter_gain_pct": g * 40, "adapter_base_nll": 2.5, "adapter_nll": 2.5 - g,
                 "sha256": c, "zero": g == 0} for c, g in zip(cand, (0.02, 0.0))}
    rows = honesty.annotate(frame.to_dict("records"), {c: c for c in cand}, facts, {"60": 4.0})
    calib = [{"candidate": f"calibration:{k}", "status": "ok", "realism_distance": d, "split_pitch": "60",
              "description": calibration.ROWS[k], "excluded": ""}
             for k, d in (("real_held_out", 0.3), ("corpus_artists", 0.6), ("random_notes", 1.0), ("base_only", 0.45))]
    board = leaderboard.with_calibration(frame, rows, calib)
    leaderboard.write(board, tmp_path / "lb.tsv", tmp_path / "lb.md", notes=["reference has 2 piece(s)"])
    read = pd.read_csv(tmp_path / "lb.tsv", sep="\t")
    assert list(read["kind"]) == ["candidate"] * 2 + ["calibration"] * 4
    md = (tmp_path / "lb.md").read_text()
    assert "## Calibration" in md and "real_held_out" in md and "**Warning:** reference has 2 piece(s)" in md
    assert "2 candidates, 2 eligible" in md

    selection = leaderboard.select_from(tmp_path / "lb.tsv", "realism", 0)
    assert selection["candidate"] == "split_pitch~60/lora_r~8" and selection["n_candidates"] == 2
    assert selection["adapter_gain"]["improvement"] == 0.0
    warnings = " | ".join(selection["warnings"])
    assert "not better than the base" in warnings and "replays training pieces? longest shared run 5" in warnings
    assert "the base alone is as close" in warnings  # 0.5 vs base_only 0.45
    assert selection["calibration_realism"]["real_held_out"] == 0.3


# --- LoRA on every linear layer -------------------------------------------------------------


def test_all_linear_target_modules_in_config_sweep_and_peft():
    config = load_config()
    for value in ("all-linear", ["all-linear"]):
        validate_config(deep_merge(config, {"lora": {"target_modules": value}}))
    swept = deep_merge(config, {"sweep": {"lora_target_modules": [["q_proj", "v_proj"], "all-linear"]}})
    validate_config(swept)
    with pytest.raises(ConfigError, match="lora.target_modules"):
        validate_config(deep_merge(config, {"lora": {"target_modules": "q_proj"}}))
    combos = sweep.combinations(swept, "train")
    assert list(dict.fromkeys(c["lora_target_modules"] for c in combos)) == ["q_proj+v_proj", "all-linear"]
    assert "/lora_target_modules~all-linear" in sweep.instance("train", combos[1])  # a short path name
    lora = Settings.from_config(sweep.resolve(swept, combos[1])).lora
    model = wrap(build_model(TINY_MODEL, seed=0), lora, seed=0)
    wrapped = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= wrapped
