"""Aggregation, reference, metrics.json, the evaluate CLI, the Snakemake rules, and a sanity
check on real music."""
from __future__ import annotations

import glob
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT, comping_and_lead
from tiny_jazz import jazz_piece
from jazz_solo import sweep
from jazz_solo.evaluation import scoring, metrics
from jazz_solo.__main__ import main
from jazz_solo.config import load_config
from jazz_solo.data.midi_io import MidiError, load_notes, split_roles, write_midi
from jazz_solo.settings import Settings
from jazz_solo.data.tokens import Note

GRAMMAR = {"orphan_note_off": 0, "duplicate_note_on": 1, "unclosed": 0, "misplaced_special": 0}


def write_samples(gen_dir: Path, pieces: int = 2, empty_solo: bool = True) -> Path:
    """A generator-like output: two-track samples (+ solo-only copies) and samples.jsonl."""
    samples = gen_dir / "samples"
    lines = []
    for i in range(pieces):
        cond, lead = split_roles(comping_and_lead(8.0, seed=i), 60)
        for k, solo in enumerate([lead, [] if empty_solo else lead]):
            midi = write_midi(samples / f"p{i}_s{k}.mid", {"comping": cond, "solo": solo})
            write_midi(samples / f"p{i}_s{k}.solo.mid", {"solo": solo})
            lines.append({"piece_id": f"p{i}", "sample": k, "seed": 10 * i + k, "midi": str(midi),
                          "grammar_errors": GRAMMAR if k else {}, "lead_notes": len(solo)})
    jsonl = gen_dir / "samples.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return jsonl


def test_roles_by_track_name_or_split_pitch(tmp_path):
    cond, lead = [Note(0, 1, 48, 70)], [Note(0, 1, 72, 70), Note(1, 2, 50, 70)]  # a low note in the solo
    two = write_midi(tmp_path / "two.mid", {"comping": cond, "solo": lead})
    assert scoring.roles(two, 60) == (cond, lead)  # names win over pitch
    one = write_midi(tmp_path / "one.mid", {"piano": cond + lead})
    assert scoring.roles(one, 60) == ([Note(0, 1, 48, 70), Note(1, 2, 50, 70)], [Note(0, 1, 72, 70)])
    empty_solo = write_midi(tmp_path / "empty.mid", {"comping": cond + [Note(0, 1, 70, 70)], "solo": []})
    assert scoring.roles(empty_solo, 60)[1] == []  # not re-split at the pitch
    empty_file = write_midi(tmp_path / "nothing.mid", {"piano": []})
    with pytest.raises(MidiError, match="no usable notes"):  # nothing to score is an error, not a silent solo
        scoring.roles(empty_file, 60)
    row = scoring.score([], [], 180)
    assert row["dead_air_ratio"] == 1.0 and row["note_density"] == 0.0 and row["lead_notes"] == 0


def test_cap_keeps_onsets_before_limit_and_clips_ends():
    notes = [Note(0, 2, 60, 80), Note(1.5, 3, 62, 80), Note(2.0, 3, 64, 80)]
    assert scoring.cap(notes, 2.0) == [Note(0, 2, 60, 80), Note(1.5, 2.0, 62, 80)]
    assert scoring.cap(notes, 2.0, clip=False) == notes[:2]  # the conditioning keeps its ringing ends
    assert scoring.cap(notes, None) == notes


def test_summary_reference_and_realism_distance_by_hand():
    rows = [{"lead_notes": 10, **{m: 1.0 for m in scoring.METRICS}, "grammar_errors": 0},
            {"lead_notes": 20, **{m: 3.0 for m in scoring.METRICS}, "grammar_errors": 2},
            {"piece_id": "x", "error": "x.mid: not a readable MIDI file"}]
    s = scoring.summarize(rows)
    assert s["num_samples"] == 2 and s["num_failed"] == 1 and s["avg_lead_notes"] == 15
    assert s["avg_dead_air_ratio"] == 2.0 and s["avg_harmonic_fit_gain"] == 2.0 and s["avg_grammar_errors"] == 1
    ref = scoring.reference_stats(rows)
    assert ref["count"] == 2 and ref["mean"]["polyphony"] == 2.0
    assert ref["std"]["polyphony"] == pytest.approx(2 ** 0.5)  # sample std of 1 and 3
    assert scoring.realism_distance(s, ref) == 0.0
    # one metric off by two spreads, the other eleven equal: 2 / 12
    shifted = dict(s, avg_pitch_range=2.0 + 2 * 2 ** 0.5)
    assert scoring.realism_distance(shifted, ref) == pytest.approx(2 / len(scoring.METRICS))
    # a zero spread is floored at max(5 % of |mean|, 0.01)
    flat = {"count": 3, "mean": {"pitch_range": 20.0, "ioi_std": 0.0}, "std": {"pitch_range": 0.0, "ioi_std": 0.0}}
    terms = scoring.realism_terms({"avg_pitch_range": 21.0, "avg_ioi_std": 0.02}, flat)
    assert terms == pytest.approx({"pitch_range": 1.0, "ioi_std": 2.0})
    assert scoring.realism_distance(s, {"count": 0, "mean": {}, "std": {}}) is None


def test_build_reference_uses_target_test_pieces_sorted_and_capped(tmp_path, make_midi):
    rows = ["piece_id\tpath\tartist\tsource\tsplit\tnotes\tseconds"]
    for pid, source, split in (("b", "target", "test"), ("a", "target", "test"), ("c", "corpus", "test"),
                               ("d", "target", "train")):
        rows.append(f"{pid}\t{make_midi(f'{pid}.mid', seconds=16.0, seed=ord(pid))}\tX\t{source}\t{split}\t0\t16")
    (tmp_path / "bad.mid").write_text("not midi")
    rows.append(f"e\t{tmp_path / 'bad.mid'}\tX\ttarget\ttest\t0\t0")
    tsv = tmp_path / "pieces.tsv"
    tsv.write_text("\n".join(rows) + "\n")
    pieces = scoring.target_test_pieces(tsv)
    assert [p for p, _ in pieces] == ["a", "b", "e"]
    ref = scoring.build_reference(pieces, split_pitch=60, max_seconds=4.0, threshold_ms=180)
    assert ref["count"] == 2 and [r["piece_id"] for r in ref["files"]] == ["a", "b", "e"]
    assert "not a readable MIDI file" in ref["files"][2]["error"]
    # 4 s of the test piece: 8 beats x 2 eighth notes in the right hand
    assert ref["files"][0]["lead_notes"] == 16
    assert ref["mean"]["dead_air_ratio"] == pytest.approx(1.0)  # 250 ms eighths
    assert ref["mean"]["harmonic_fit_gain"] > 0  # the test piece's melody is drawn from the chords' scale


def test_evaluate_samples_metrics_json(tmp_path):
    gen = tmp_path / "gen"
    jsonl = write_samples(gen)
    pieces = [(f"p{i}", str(gen / "samples" / f"p{i}_s0.mid")) for i in range(2)]
    ref = scoring.build_reference(pieces, 60, None, 180)
    prov = scoring.provenance(Settings.from_config(load_config()).candidate_hash())
    result = scoring.evaluate_samples(jsonl, gen / "samples", ref, {"temperature": "0.9"}, 60, 180, prov)
    assert set(result) >= {"params", "summary", "files", "reference", "realism_distance", "status", "provenance"}
    assert result["status"] == "ok" and result["params"] == {"temperature": "0.9"}
    s = result["summary"]
    assert s["num_samples"] == 4 and s["avg_lead_notes"] == 16  # 32 notes, 0 notes, 32, 0
    assert s["avg_grammar_errors"] == 0.5
    assert all(f"avg_{m}" in s for m in metrics.NOTE_METRICS)
    assert result["files"][1]["lead_notes"] == 0 and result["files"][1]["dead_air_ratio"] == 1.0
    assert result["realism_distance"] > 0
    p = result["provenance"]
    assert p["version"] and len(p["config_hash"]) == 16
    if (PROJECT_ROOT / ".git").exists():
        assert len(p["git_commit"]) == 40
    # a sample that cannot be read fails the candidate with the reason, others are still scored
    (gen / "samples" / "p1_s1.mid").write_text("broken")
    failed = scoring.evaluate_samples(jsonl, gen / "samples", ref, {}, 60, 180, prov)
    assert failed["status"].startswith("failed: ") and "p1_s1.mid" in failed["status"]
    assert failed["summary"]["num_samples"] == 3
    jsonl.write_text("")
    assert scoring.evaluate_samples(jsonl, gen / "samples", ref, {}, 60, 180, prov)["status"] == "failed: no samples"


def test_cli_scores_a_folder_against_a_reference(tmp_path, make_midi, capsys):
    for i in range(3):
        make_midi(f"real/piece{i}.mid", seed=i)
    write_samples(tmp_path / "gen", pieces=1, empty_solo=False)
    out = tmp_path / "m.json"
    rc = main(["evaluate", str(tmp_path / "gen" / "samples"), "--reference", str(tmp_path / "real"),
               "--max-seconds", "8", "--output", str(out)])
    assert rc == 0, capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["status"] == "ok" and result["reference"]["count"] == 3
    assert [f["file"] for f in result["files"]] == ["p0_s0.mid", "p0_s1.mid"]  # .solo.mid copies skipped
    assert result["summary"]["avg_grammar_errors"] is None  # not applicable to MIDI made elsewhere
    # the result's reference block can be reused as --reference
    rc = main(["evaluate", str(tmp_path / "real"), "--reference", str(out), "--output", str(tmp_path / "n.json")])
    assert rc == 0 and json.loads((tmp_path / "n.json").read_text())["realism_distance"] is not None
    # bad input: one line naming the file
    (tmp_path / "junk.json").write_text("{}")
    assert main(["evaluate", str(tmp_path / "real"), "--reference", str(tmp_path / "junk.json"), "-o", str(out)]) == 2
    assert "junk.json: not a reference" in capsys.readouterr().err


def test_reference_and_evaluate_rules_with_snakemake(tmp_path, make_midi):
    """The two rules on their own (common.smk + evaluate.smk), on generator-like files."""
    config = load_config()
    work = tmp_path / "work"
    gen = work / "results" / "gen" / sweep.instance("gen", sweep.combinations(config, "gen")[0])
    write_samples(gen, pieces=1)
    (work / "results" / "data").mkdir(parents=True)
    (work / "results" / "data" / "pieces.tsv").write_text(
        "piece_id\tpath\tartist\tsource\tsplit\tnotes\tseconds\n"
        f"p0\t{make_midi('p0.mid', seconds=40.0)}\tX\ttarget\ttest\t0\t40\n"
    )
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        f'configfile: "{PROJECT_ROOT}/config.yaml"\n'
        f'include: "{PROJECT_ROOT}/rules/common.smk"\n'
        f'include: "{PROJECT_ROOT}/rules/evaluate.smk"\n'
    )
    target = gen.relative_to(work) / "metrics.json"
    run = subprocess.run([sys.executable, "-m", "snakemake", str(target), "-s", str(snakefile), "-d", str(work),
                          "--cores", "1", "--quiet", "all"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    ref = json.loads((work / "results/data/vocabulary~duration/sequence~windowed/split_pitch~60/reference.json").read_text())
    assert ref["count"] == 1 and ref["max_seconds"] == config["generate"]["max_seconds"]
    assert ref["files"][0]["lead_notes"] == 2 * 2 * int(config["generate"]["max_seconds"])  # capped at 32 s
    result = json.loads((work / target).read_text())
    assert result["status"] == "ok" and result["params"]["split_pitch"] == "60"
    assert result["reference"]["count"] == 1 and result["summary"]["num_samples"] == 2


def real_beats_random(pieces: list[list[Note]], seconds: float) -> tuple[float, float, dict, dict]:
    """The reference is the pieces' first ``seconds`` (as the reference rule caps them), the
    "candidates" their next ``seconds``: the real lead, and random pitches/onsets/durations with the
    same number of notes over the same span. Returns realism_distance real, random, and both summaries."""

    def passage(notes, a, b):
        return split_roles([n._replace(start=n.start - a, end=min(n.end, b) - a) for n in notes if a <= n.start < b], 60)

    reference = scoring.reference_stats([scoring.score(l, c, 180) for c, l in (passage(n, 0, seconds) for n in pieces)])
    later = [passage(n, seconds, 2 * seconds) for n in pieces]
    rng = random.Random(0)

    def randomize(lead, cond):
        both = [*lead, *cond]
        lo, hi = min(n.start for n in both), max(n.end for n in both)
        return [Note(s := rng.uniform(lo, hi), s + rng.uniform(0.05, 1.0), rng.randint(21, 108), 80) for _ in lead]

    real = scoring.summarize([scoring.score(l, c, 180) for c, l in later])
    rand = scoring.summarize([scoring.score(randomize(l, c), c, 180) for c, l in later])
    d_real, d_rand = scoring.realism_distance(real, reference), scoring.realism_distance(rand, reference)
    print(f"realism_distance real {d_real:.3f} random {d_rand:.3f}; harmonic_fit_gain real "
          f"{real['avg_harmonic_fit_gain']:.3f} random {rand['avg_harmonic_fit_gain']:.3f}")
    return d_real, d_rand, real, rand


@pytest.mark.shared_data
def test_sanity_on_real_music(shared_data):
    """20 real pieces, 32 s + 32 s (real_beats_random). Real music must be far closer to the
    reference and listen to its conditioning (positive harmonic_fit_gain); random MIDI must not."""
    files = sorted(glob.glob(str(shared_data / "*" / "*" / "*.midi")))[::49][:20]
    assert len(files) == 20
    d_real, d_rand, real, rand = real_beats_random([load_notes(f) for f in files], 32.0)
    assert d_real < 0.5 * d_rand  # measured: 0.21 vs 0.94
    assert real["avg_harmonic_fit_gain"] > 0.1  # measured: 0.13 (0.19-0.22 over whole pieces in 8-s windows)
    assert abs(rand["avg_harmonic_fit_gain"]) < 0.05  # measured: -0.01


def test_sanity_on_the_jazz_fixture(make_midi):
    """The same check where ../shared/data is absent: 12 pieces of the two-hand jazz fixture
    (tests/tiny_jazz.py; seeds and keys differ), 8 s + 8 s, written as MIDI and read back."""
    pieces = [load_notes(make_midi(f"jazz{i}.mid", notes=jazz_piece(bars=10, seed=i, key=-(i % 6)))) for i in range(12)]
    d_real, d_rand, real, rand = real_beats_random(pieces, 8.0)
    assert d_real < 0.5 * d_rand  # measured: 0.44 vs 3.23
    assert real["avg_harmonic_fit_gain"] > 0.1  # measured: 0.30
    assert abs(rand["avg_harmonic_fit_gain"]) < 0.05  # measured: -0.02
