"""Ingest: file discovery, quarantine, artists, ids and the deterministic split by piece."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pretty_midi
import pytest

from jazz_solo.data.ingest import assign_splits, find_sources, ingest, piece_id
from jazz_solo.data.midi_io import write_midi
from jazz_solo.data.tokens import Note

from conftest import comping_and_lead

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def write_piece(path: Path, seconds: float = 8.0, seed: int = 0) -> Path:
    return write_midi(path, {"piano": comping_and_lead(seconds, seed)})


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture
def library(tmp_path) -> Path:
    """PiJAMA layout <Artist>/<Album>/<Title>.midi with a few broken files mixed in."""
    root = tmp_path / "studio"
    for i, artist in enumerate(["Ann Able", "Bo Baker", "Cy Cole"]):
        for j in range(3):
            write_piece(root / artist / f"Album {j % 2}" / f"Tune {j}.midi", seed=10 * i + j)
    bad = root / "Bo Baker" / "Broken"
    bad.mkdir(parents=True)
    (bad / "garbage.mid").write_bytes(b"MThd this is not a midi file at all" * 3)
    pretty_midi.PrettyMIDI().write(str(bad / "empty.mid"))
    drums = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    kit.notes.append(pretty_midi.Note(velocity=100, pitch=38, start=0.0, end=0.5))
    drums.instruments.append(kit)
    drums.write(str(bad / "drums.mid"))
    (root / "Cy Cole" / "notes.txt").write_text("not midi, ignored")
    return root


def test_quarantine_keeps_going_and_never_modifies(library, tmp_path):
    bad = library / "Bo Baker" / "Broken"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bad.iterdir()}
    pieces, quarantined = ingest([str(library)], [str(library / "Cy Cole")], RATIOS, 1, tmp_path / "p.tsv",
                                 tmp_path / "q.tsv")
    reasons = {Path(p).name: r for p, r in quarantined}
    assert set(reasons) == {"garbage.mid", "empty.mid", "drums.mid"}
    assert "not a readable MIDI file" in reasons["garbage.mid"]
    assert reasons["empty.mid"] == "no notes"
    assert reasons["drums.mid"] == "drum-only file"
    assert len(pieces) == 9
    assert [r["path"] for r in read_tsv(tmp_path / "q.tsv")] == [p for p, _ in quarantined]
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bad.iterdir()}


def test_target_files_never_corpus_and_artists(library, tmp_path):
    pieces, _ = ingest([str(library)], [str(library / "Cy Cole")], RATIOS, 1, tmp_path / "p.tsv", tmp_path / "q.tsv")
    rows = read_tsv(tmp_path / "p.tsv")
    assert [r["piece_id"] for r in rows] == sorted(r["piece_id"] for r in rows)
    assert {r["artist"] for r in rows if r["source"] == "target"} == {"Cy Cole"}
    assert {r["artist"] for r in rows if r["source"] == "corpus"} == {"Ann Able", "Bo Baker"}
    assert len({r["path"] for r in rows}) == len(rows) == len({r["piece_id"] for r in rows})
    assert all(int(r["notes"]) > 0 and float(r["seconds"]) > 7 for r in rows)


def test_glob_folder_and_file_entries_agree(library):
    by_folder = find_sources([str(library)], [str(library / "Cy Cole")])
    by_glob = find_sources([str(library / "*")], [str(library / "Cy*" / "*" / "*.midi")])
    assert [(f.key, f.artist, f.source) for f in by_folder] == [(f.key, f.artist, f.source) for f in by_glob]
    assert by_folder[0].key.startswith("Cy Cole/")


def test_missing_path_is_one_line_naming_the_key(library):
    with pytest.raises(ValueError) as err:
        find_sources([str(library / "nobody")], [str(library / "Cy Cole")])
    assert "data.corpus" in str(err.value) and "nobody" in str(err.value) and "\n" not in str(err.value)


def test_split_is_deterministic_and_parallel_equals_serial(library, tmp_path):
    args = ([str(library)], [str(library / "Cy Cole")], RATIOS, 7)
    ingest(*args, tmp_path / "a.tsv", tmp_path / "qa.tsv", threads=1)
    ingest(*args, tmp_path / "b.tsv", tmp_path / "qb.tsv", threads=2)
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "b.tsv").read_text()
    ingest(args[0], args[1], RATIOS, 8, tmp_path / "c.tsv", tmp_path / "qc.tsv")
    ids = [r["piece_id"] for r in read_tsv(tmp_path / "c.tsv")]
    assert ids == [r["piece_id"] for r in read_tsv(tmp_path / "a.tsv")]  # ids do not depend on the seed


def test_split_fix_up_gives_small_targets_val_and_test():
    for seed in range(20):
        splits = assign_splits(["a", "b", "c"], RATIOS, seed, ("train", "val", "test"))
        assert sorted(splits) == ["test", "train", "val"]
    keys = [f"k{i}" for i in range(200)]
    splits = assign_splits(keys, RATIOS, 0, ("train", "val", "test"))
    assert 140 <= splits.count("train") <= 180  # ratios respected without the fix-up


def test_piece_id_is_filesystem_safe():
    pid = piece_id("Bill Evans / Trio", "Bill Evans/Live: at the Vanguard/Tune #1?.midi")
    assert pid.startswith("bill-evans-trio--tune-1--") and all(c.isalnum() or c == "-" for c in pid)


def test_zero_length_file_is_quarantined(tmp_path):
    write_midi(tmp_path / "t" / "zero.mid", {"piano": [Note(1.0, 1.0, 60, 64)]})
    write_piece(tmp_path / "t" / "ok.mid")
    write_piece(tmp_path / "t" / "other.mid", seed=1)  # a corpus of junk only is an error (test_hostile)
    pieces, quarantined = ingest([str(tmp_path / "t")], [str(tmp_path / "t" / "ok.mid")], RATIOS, 1,
                                 tmp_path / "p.tsv", tmp_path / "q.tsv")
    assert [Path(p).name for p, _ in quarantined] == ["zero.mid"]
    assert sorted(p["source"] for p in pieces) == ["corpus", "target"]


def test_literal_brackets_in_names_are_not_globs(tmp_path):
    path = write_piece(tmp_path / "Ann Able" / "Watch [Live].midi")
    (found,) = find_sources([str(path)], [str(write_piece(tmp_path / "Ann Able" / "Other.mid"))])[1:]
    assert (found.path, found.artist, found.source) == (str(path), "Ann Able", "corpus")
