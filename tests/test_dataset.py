"""Tokenize: windows per split, transpositions on train only, no leakage, skip counts, summary."""
from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from jazz_solo import paths
from jazz_solo.data import tokens
from jazz_solo.config import PROJECT_ROOT, load_config
from jazz_solo.data.dataset import build_dataset, in_keys, index_path, piece_examples, window_shifts
from jazz_solo.data.ingest import ingest, read_pieces
from jazz_solo.data.midi_io import write_midi
from jazz_solo.settings import Settings
from jazz_solo.data.tokens import Note
from jazz_solo.data.windows import WindowSet, excerpt, excerpt_starts

from conftest import comping_and_lead

DATA = Settings.from_config(load_config()).data
RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}
SETS = [f"{source}_{split}" for source in ("corpus", "target") for split in ("train", "val", "test")]


def read_index(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture
def dataset(tmp_path) -> Path:
    for i in range(8):
        write_midi(tmp_path / "lib" / "Corp" / f"c{i}.mid", {"piano": comping_and_lead(14.0 + i, seed=i)})
    for i in range(5):
        write_midi(tmp_path / "lib" / "Targ" / f"t{i}.mid", {"piano": comping_and_lead(12.0 + i, seed=100 + i)})
    ingest([str(tmp_path / "lib")], [str(tmp_path / "lib" / "Targ")], RATIOS, 3, tmp_path / "pieces.tsv",
           tmp_path / "q.tsv")
    build_dataset(read_pieces(tmp_path / "pieces.tsv"), tmp_path / "out", DATA, threads=2)
    return tmp_path


def test_no_leakage_and_transpositions_on_train_only(dataset):
    out = dataset / "out"
    owner: dict[str, str] = {}
    for name in SETS:
        split = name.split("_")[1]
        index = read_index(out / f"{name}.index.tsv")
        ws = WindowSet.load(out / f"{name}.npz")
        assert len(ws) == len(index)
        for row in index:
            assert owner.setdefault(row["piece_id"], split) == split  # a piece lives in one split only
        shifts = {int(r["transpose"]) for r in index}
        if split == "train":
            assert shifts == set(range(DATA.transpose[0], DATA.transpose[1] + 1))
        else:
            assert shifts <= {0}
    pieces = read_pieces(dataset / "pieces.tsv")
    assert {p["piece_id"]: p["split"] for p in pieces if p["piece_id"] in owner} == owner
    assert {p["split"] for p in pieces if p["source"] == "target"} == {"train", "val", "test"}


def test_adapter_keys_are_the_train_windows_of_those_transpositions(dataset):
    npz = dataset / "out" / "target_train.npz"
    ws, shifts = WindowSet.load(npz), window_shifts(npz)
    assert sorted(set(shifts.tolist())) == list(range(DATA.transpose[0], DATA.transpose[1] + 1))
    played = in_keys(ws, shifts, [0, 0])
    untransposed = build_dataset(read_pieces(dataset / "pieces.tsv"), dataset / "plain",
                                 dataclasses.replace(DATA, transpose=[0, 0]))
    assert untransposed["examples"]["target"]["train"] == len(played) < len(ws)
    plain = WindowSet.load(dataset / "plain" / "target_train.npz")
    assert np.array_equal(played.tokens, plain.tokens) and np.array_equal(played.sep_pos, plain.sep_pos)
    assert len(in_keys(ws, shifts, [-1, 1])) == int(((shifts >= -1) & (shifts <= 1)).sum())
    assert in_keys(ws, shifts, DATA.transpose) is ws

    with pytest.raises(ValueError, match=r"'lora.transpose' \[7, 9\]: no train window"):
        in_keys(ws, shifts, [7, 9])
    with pytest.raises(ValueError, match=r"'lora.transpose' \[1, -1\]: give \[lowest, highest\]"):
        in_keys(ws, shifts, [1, -1])
    index_path(npz).unlink()  # a pipeline set without its index: named, not guessed
    with pytest.raises(FileNotFoundError, match="target_train.index.tsv"):
        window_shifts(npz)


def test_examples_are_bos_cond_sep_lead_eos(dataset):
    out = dataset / "out"
    ws = WindowSet.load(out / "target_test.npz")
    index = read_index(out / "target_test.index.tsv")
    assert len(ws) > 0
    for i, row in enumerate(index):
        seq = ws[i].tolist()
        sep = int(ws.sep_pos[i])
        assert seq[0] == tokens.BOS and seq[sep] == tokens.SEP and seq[-1] == tokens.EOS
        assert sep - 1 == min(int(row["cond_tokens"]), DATA.max_cond_tokens)
        assert len(seq) == int(row["length"])
        lead = tokens.decode_tokens(seq[sep + 1 :], end=DATA.window_seconds)
        assert lead and min(n.pitch for n in lead) > DATA.split_pitch
        assert max(n.pitch for n in tokens.decode_tokens(seq[1:sep])) <= DATA.split_pitch


def test_summary_counts_match_files(dataset):
    out = dataset / "out"
    summary = json.loads((out / "dataset_summary.json").read_text())
    for name in SETS:
        source, split = name.split("_")
        ws = WindowSet.load(out / f"{name}.npz")
        assert summary["examples"][source][split] == len(ws)
        assert summary["tokens"][source][split] == len(ws.tokens)
        factor = 12 if split == "train" else 1
        assert summary["examples"][source][split] == factor * summary["windows"][source][split]
    assert set(summary["skipped"]) == {"few_lead_notes", "few_cond_notes", "transpose_out_of_range"}


def test_parallel_equals_serial(dataset):
    build_dataset(read_pieces(dataset / "pieces.tsv"), dataset / "serial", DATA, threads=1)
    for name in SETS:
        a, b = WindowSet.load(dataset / "out" / f"{name}.npz"), WindowSet.load(dataset / "serial" / f"{name}.npz")
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.offsets, b.offsets)
        assert (dataset / "out" / f"{name}.index.tsv").read_text() == (dataset / "serial" / f"{name}.index.tsv").read_text()


def test_skip_reasons_are_counted():
    lead_only = [Note(0.5 * i, 0.5 * i + 0.4, 72, 80) for i in range(16)]  # 8 s of lead, no comping
    result = piece_examples(lead_only, 8.0, "val", DATA)
    assert result.windows == 0 and result.skipped["few_cond_notes"] == 1
    sparse = [Note(0.0, 1.0, 48, 80), Note(0.0, 1.0, 72, 80)]  # one lead note < min_lead_notes
    assert piece_examples(sparse, 8.0, "val", DATA).skipped["few_lead_notes"] == 1
    high = [Note(0.0, 1.0, 48, 80), Note(0.5, 1.0, 125, 80), Note(1.0, 2.0, 124, 80)]
    result = piece_examples(high, 8.0, "train", DATA)  # +3..+6 push 125 past 127
    assert result.skipped["transpose_out_of_range"] == 4 and len(result.lengths) == 8


def test_snakemake_data_stage_on_tiny_config(tmp_path):
    """The real rules (ingest + tokenize) on a few files: outputs exist and match the contract."""
    for i in range(4):
        write_midi(tmp_path / "midi" / "Corp" / f"c{i}.mid", {"piano": comping_and_lead(12.0, seed=i)})
        write_midi(tmp_path / "midi" / "Targ" / f"t{i}.mid", {"piano": comping_and_lead(12.0, seed=50 + i)})
    config = {"data": {"corpus": ["midi/Corp"], "target": ["midi/Targ"]}, "sweep": {"split_pitch": [60, 64]}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/data/vocabulary~duration/sequence~windowed/split_pitch~{sp}/dataset_summary.json" for sp in (60, 64)]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(tmp_path / "tiny.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pieces = read_pieces(tmp_path / "results" / "data" / "pieces.tsv")
    assert sorted(p["source"] for p in pieces) == ["corpus"] * 4 + ["target"] * 4
    for sp in (60, 64):
        data = {"vocabulary": "duration", "sequence": "windowed", "split_pitch": str(sp)}
        summary = json.loads(Path(paths.file("dataset_summary", data, root=tmp_path / "results")).read_text())
        assert summary["split_pitch"] == sp and summary["examples"]["target"]["train"] > 0


def test_excerpts_spread_over_the_piece_not_its_opening():
    # centred in three equal parts, inside the piece, on the 10 ms grid
    assert excerpt_starts(240.0, 32.0, 3) == [24.0, 104.0, 184.0]
    assert excerpt_starts(70.0, 32.0, 3) == [0.0, 19.0, 38.0]  # clamped into [0, 70 - 32]
    assert excerpt_starts(20.0, 32.0, 3) == [0.0]  # too short to differ: one, not three copies
    assert excerpt_starts(100.0, 32.0, 1) == [34.0]  # one excerpt: the middle
    with pytest.raises(ValueError, match="excerpt count"):
        excerpt_starts(100.0, 32.0, 0)


def test_excerpt_moves_notes_to_zero_and_keeps_their_ends():
    notes = [Note(9.99, 10.5, 60, 80), Note(10.0, 12.0, 62, 80), Note(41.99, 45.0, 64, 80), Note(42.0, 43.0, 65, 80)]
    got = excerpt(notes, 10.0, 32.0)
    # onset in [10, 42): the note ringing on past the excerpt end keeps its length
    assert [(n.pitch, round(n.start, 2), round(n.end, 2)) for n in got] == [(62, 0.0, 2.0), (64, 31.99, 35.0)]
