"""Selection rules, leaderboard and export bundle on hand-made metrics (no model, no Snakemake)."""
from __future__ import annotations

import json
import tarfile

import pytest

from jazz_solo.selection import export, leaderboard, ranking


def metrics(realism=1.0, gain=0.1, dead_air=0.3, rep=0.1, density=2.0, notes=20.0, grammar=0, status="ok"):
    """A metrics.json as rule evaluate writes it (only the keys selection reads)."""
    return {
        "status": status,
        "realism_distance": realism,
        "summary": {
            "avg_harmonic_fit_gain": gain,
            "avg_dead_air_ratio": dead_air,
            "avg_repetition_4gram": rep,
            "avg_note_density": density,
            "avg_lead_notes": notes,
            "grammar_errors": grammar,
            "avg_wall_s": 1.234,  # machine-dependent: must not reach the leaderboard
        },
    }


def rows(**named):
    return [ranking.summary_row(cid, m) for cid, m in named.items()]


def ids(ranked):
    return [r["candidate"] for r in ranked if r["rank"] is not None]


def test_realism_orders_by_distance_then_gain_then_dead_air():
    ranked = ranking.rank(
        rows(
            a=metrics(realism=0.5, gain=0.1, dead_air=0.4),
            b=metrics(realism=0.5, gain=0.2, dead_air=0.9),  # same distance, higher gain wins
            c=metrics(realism=0.3),
            d=metrics(realism=0.5, gain=0.1, dead_air=0.2),  # same distance+gain, less dead air wins
        ),
        "realism",
        min_notes=8,
    )
    assert ids(ranked) == ["c", "b", "d", "a"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]


def test_realism_full_tie_breaks_by_candidate_id_whatever_the_input_order():
    same = metrics()
    forward = ranking.rank(rows(**{"x~2": same, "x~10": same, "x~1": same}), "realism", 8)
    backward = ranking.rank(rows(**{"x~1": same, "x~10": same, "x~2": same}), "realism", 8)
    assert ids(forward) == ids(backward) == ["x~1", "x~10", "x~2"]


def test_realism_drops_failed_grammar_errors_and_near_silent_candidates():
    ranked = ranking.rank(
        rows(
            failed=metrics(realism=0.0, status="failed"),
            grammar=metrics(realism=0.1, grammar=3),
            grammar_dict={**metrics(realism=0.1), "summary": {**metrics()["summary"], "grammar_errors": {"orphan_off": 1}}},
            quiet=metrics(realism=0.2, notes=7.9),
            ok=metrics(realism=5.0),
        ),
        "realism",
        min_notes=8,
    )
    assert ids(ranked) == ["ok"]
    reasons = {r["candidate"]: r["excluded"] for r in ranked}
    assert reasons["failed"] == "status failed"
    assert reasons["grammar"] == reasons["grammar_dict"] == "grammar errors"
    assert reasons["quiet"] == "avg lead notes < 8"
    assert ranking.rank(rows(ok=metrics(), quiet=metrics(notes=1)), "realism", 8)[0]["candidate"] == "ok"


def test_missing_metric_sorts_last_instead_of_winning():
    no_distance = metrics()
    del no_distance["realism_distance"]
    assert ids(ranking.rank(rows(a=no_distance, b=metrics(realism=9.0)), "realism", 0)) == ["b", "a"]


def test_legacy_rule_dead_air_then_repetition_then_density_distance_from_one():
    ranked = ranking.rank(
        rows(
            a=metrics(dead_air=0.2, rep=0.3, density=1.0),
            b=metrics(dead_air=0.2, rep=0.1, density=3.0),  # same dead air, less repetition wins
            c=metrics(dead_air=0.2, rep=0.1, density=1.5),  # ... and |1.5-1| < |3-1|
            d=metrics(dead_air=0.2, rep=0.1, density=0.5),  # |0.5-1| == |1.5-1|: tie -> id: c before d
            e=metrics(dead_air=0.1, notes=0, grammar=5),     # the legacy rule never looked at these
            f=metrics(dead_air=0.0, status="failed"),
        ),
        "legacy",
        min_notes=8,
    )
    assert ids(ranked) == ["e", "c", "d", "b", "a"]
    assert ranked[-1]["candidate"] == "f" and ranked[-1]["rank"] is None


def test_no_eligible_candidate_ranks_none_and_an_unknown_rule_is_an_error():
    ranked = ranking.rank(rows(a=metrics(status="failed"), b=metrics(grammar=1)), "realism", 8)
    assert [(r["rank"], r["excluded"]) for r in ranked] == [(None, "status failed"), (None, "grammar errors")]
    with pytest.raises(ValueError, match="select.rule"):
        ranking.rank([], "fastest")


def gen_id(lora_r, temperature):
    return (
        f"vocabulary~duration/sequence~windowed/split_pitch~60/lora_r~{lora_r}/lora_alpha~16/lora_dropout~0.05/lora_lr~0.001/"
        f"lora_target_modules~all-linear/primer_max_tokens~256/temperature~{temperature}/top_p~0.98/top_k~0/"
        f"listening_guidance~auto"
    )


def test_leaderboard_lists_missing_and_failed_candidates_and_selects_rank_one(tmp_path):
    good, better, failed, missing = gen_id(4, 0.9), gen_id(8, 0.9), gen_id(4, 1.1), gen_id(8, 1.1)
    paths = {}
    for cid, m in {good: metrics(realism=2.0), better: metrics(realism=1.0), failed: {"status": "failed", "error": "boom"}}.items():
        paths[cid] = tmp_path / cid / "metrics.json"
        paths[cid].parent.mkdir(parents=True)
        paths[cid].write_text(json.dumps(m))
    paths[missing] = tmp_path / "nowhere" / "metrics.json"
    cands = [good, better, failed, missing]
    frame = leaderboard.gather(cands, [paths[c] for c in cands], "realism", 8)
    assert list(frame["candidate"]) == [better, good, failed, missing]
    assert list(frame["status"]) == ["ok", "ok", "failed", "failed"]
    assert list(frame["excluded"].fillna("")) == ["", "", "boom", "no metrics.json"]
    assert list(frame["lora_r"]) == ["8", "4", "4", "8"] and "avg_wall_s" not in frame.columns

    tsv, md = tmp_path / "leaderboard.tsv", tmp_path / "leaderboard.md"
    leaderboard.write(frame, tsv, md)
    table = [line for line in md.read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:3] == ["rank", "lora_r", "temperature"] and len(table) == 2 + 4  # only swept params shown
    again = tmp_path / "again.tsv"
    leaderboard.write(leaderboard.gather(cands, [paths[c] for c in cands], "realism", 8), again)
    assert again.read_bytes() == tsv.read_bytes()

    selection = leaderboard.select_from(tsv, "realism", 8)
    assert selection["candidate"] == better and selection["params"]["lora_r"] == "8"
    assert selection["metrics"]["realism_distance"] == 1.0
    assert (selection["n_candidates"], selection["n_eligible"]) == (4, 2)


def test_leaderboard_with_no_winner_fails_naming_reasons(tmp_path):
    tsv = tmp_path / "leaderboard.tsv"
    leaderboard.write(leaderboard.build({gen_id(4, 0.9): None}), tsv)
    with pytest.raises(ValueError, match="no metrics.json"):
        leaderboard.select_from(tsv, "realism", 8)


def test_candidate_ids_come_from_the_config_not_the_disk():
    from jazz_solo.config import load_config

    config = load_config()
    config["sweep"] = {"lora_r": [4, 8], "temperature": [0.9, 1.1]}
    cands = leaderboard.candidate_ids(config)
    assert len(cands) == 4 and gen_id(4, 0.9) in cands and gen_id(8, 1.1) in cands
    assert leaderboard.params_of(cands[0])["temperature"] == "0.9"
    with pytest.raises(ValueError, match="not name~value"):
        leaderboard.params_of("results/gen/x")


def test_archive_is_byte_identical_for_the_same_files(tmp_path):
    (tmp_path / "bundle" / "adapter").mkdir(parents=True)
    (tmp_path / "bundle" / "adapter" / "w.bin").write_bytes(b"\x00\x01")
    (tmp_path / "bundle" / "best.json").write_text("{}")
    members = [(tmp_path / "bundle" / "adapter", "adapter"), (tmp_path / "bundle" / "best.json", "best.json")]
    first = export.archive(tmp_path / "a.tgz", members).read_bytes()
    (tmp_path / "bundle" / "best.json").touch()  # new mtime, same content
    assert export.archive(tmp_path / "b.tgz", members).read_bytes() == first
    with tarfile.open(tmp_path / "a.tgz") as tar:
        assert tar.getnames() == ["adapter", "adapter/w.bin", "best.json"]


def test_cli_leaderboard_lists_candidates_without_metrics_as_failed(tmp_path, capsys):
    from jazz_solo.__main__ import main

    override = tmp_path / "sweep.yaml"
    override.write_text("sweep:\n  lora_r: [4, 8]\n  temperature: [0.9, 1.1]\n")
    done = tmp_path / "results" / "gen" / gen_id(8, 1.1) / "metrics.json"
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps(metrics()))
    assert main(["leaderboard", "--config", str(override), "--results", str(tmp_path / "results"),
                 "-o", str(tmp_path / "lb.tsv")]) == 0
    frame = leaderboard.read(tmp_path / "lb.tsv")
    assert list(frame["status"]) == ["ok", "failed", "failed", "failed"]
    assert frame["candidate"][0] == gen_id(8, 1.1) and "no metrics.json" in capsys.readouterr().out
    # the older spellings (a positional config, --tsv) still work
    assert main(["leaderboard", str(override), "--results", str(tmp_path / "results"), "--tsv", str(tmp_path / "old.tsv")]) == 0
    assert (tmp_path / "old.tsv").read_bytes() == (tmp_path / "lb.tsv").read_bytes()
