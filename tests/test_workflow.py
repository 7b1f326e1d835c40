"""The whole pipeline on tests/configs/tiny.yaml, driven by Snakemake itself.

One real run (about a minute on 2 cores) feeds every fast test here: the exported best
candidate, rebuild precision read from `snakemake -n` job counts, the HTML report, and a failed
candidate in the leaderboard. Running twice from scratch (determinism) is marked slow.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from jazz_solo.config import PROJECT_ROOT

from png_checks import assert_figure

TINY = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"
TORCH_RULES = ("pretrain", "train_lora", "generate", "revalidate")
AGGREGATION = {"leaderboard", "select_best", "revalidate", "export", "report_figures", "audio_previews",
               "calibration_chart", "all"}


def snakemake(workdir: Path, *args: str, configfile: Path = TINY) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def run_tiny(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    # One thread per torch job, so two run side by side on 2 cores (the tiny model gains nothing
    # from a second thread, and start-up dominates): ~30 % faster, same results.
    proc = snakemake(workdir, "--cores", "2", "--set-threads", *(f"{r}=1" for r in TORCH_RULES))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def planned_jobs(workdir: Path, configfile: Path = TINY) -> dict[str, int]:
    """Job counts of `snakemake -n` (the first 'Job stats' table); {} when nothing is to be done."""
    proc = snakemake(workdir, "-n", configfile=configfile)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def tiny_variant(tmp_path: Path, name: str, **sweep) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config["sweep"].update(sweep)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return run_tiny(tmp_path_factory.mktemp("tiny"))


def test_tiny_sweep_picks_revalidates_and_exports_the_best(tiny_run):
    results = tiny_run / "results"
    board = (results / "sweep" / "leaderboard.tsv").read_text().splitlines()
    assert len(board) == 1 + 4 + 5  # 2 lora_r x 2 temperatures, every one listed; 5 calibration rows
    header = board[0].split("\t")
    kinds = [dict(zip(header, line.split("\t"))) for line in board[1:]]
    calibration_rows = [r["candidate"] for r in kinds if r["kind"] == "calibration"]
    assert calibration_rows == [f"calibration:{k}" for k in ("real_held_out", "real_same_comping", "corpus_artists",
                                                             "random_notes", "base_only")]
    assert all(r["realism_distance"] and r["max_copy_run"] for r in kinds)  # every row on the same scale, copy check
    assert "## Calibration" in (results / "sweep" / "leaderboard.md").read_text()
    selection = json.loads((results / "best" / "selection.json").read_text())
    assert selection["rank"] == 1 and selection["candidate"] in board[1]
    best = json.loads((results / "best" / "best.json").read_text())
    assert best["candidate"] == selection["candidate"]
    assert best["sweep_metrics"]["realism_distance"] == pytest.approx(selection["metrics"]["realism_distance"])
    reval = best["revalidation"]
    assert reval["status"] == "ok" and reval["num_samples"] == 2 and reval["realism_distance"] is not None
    sweep_metrics = json.loads((results / "gen" / best["candidate"] / "metrics.json").read_text())
    assert not set(reval["seeds"]) & {f["seed"] for f in sweep_metrics["files"]}  # new seeds
    assert len(best["adapter_sha256"]) == 64
    assert set(best["adapter_gain"]) == {"base_nll", "adapter_nll", "improvement", "improvement_pct"}
    assert isinstance(best["warnings"], list) and "base_only" in best["calibration_realism"]
    if best["adapter_gain"]["improvement"] <= 0:
        assert any("not better than the base" in w for w in best["warnings"])

    bundle = json.loads((results / "best" / "bundle.json").read_text())
    assert bundle["data"]["split_pitch"] == int(selection["params"]["split_pitch"])
    assert bundle["lora"]["r"] == int(selection["params"]["lora_r"])
    assert bundle["generate"]["temperature"] == float(selection["params"]["temperature"])
    assert bundle["token_spec"]["vocab_size"] == 537 and bundle["data"]["vocabulary"] == "duration"

    with tarfile.open(results / "best" / "archive.tgz") as tar:
        names = set(tar.getnames())
    assert {"best/adapter/adapter_model.safetensors", "best/base_model/model.safetensors", "best/bundle.json",
            "best/best.json", "best/reval/metrics.json", "sweep/leaderboard.tsv", "sweep/leaderboard.md"} <= names

    from jazz_solo.training.model import load_for_inference

    model = load_for_inference(results / "best" / "adapter")  # the copy finds its copied base
    assert sum(p.numel() for p in model.parameters()) > 0
    # each figure read back (tests/png_checks.py): size in pixels, not blank, its data drawn in its colours
    report = results / "report"
    assert_figure(report / "piano_rolls.png", 900, (234, 936), {"tab:red": 300, "0.6": 1000})  # solo red, comping grey
    assert_figure(report / "metric_distributions.png", 1152, (234, 2340), {"tab:orange": 500})  # the box medians
    assert_figure(report / "training_curves.png", 810, 405, {"C0": 200, "C1": 200})  # one colour per candidate
    assert_figure(report / "calibration.png", 810, (180, 2000), {"tab:red": 2000, "0.6": 2000})  # candidates, calibration rows


def test_rebuild_precision_from_dry_run_job_counts(tiny_run, tmp_path):
    assert planned_jobs(tiny_run) == {}  # touching nothing reruns nothing

    new_temperature = planned_jobs(tiny_run, tiny_variant(tmp_path, "gen", temperature=[0.9, 1.2]))
    assert new_temperature == {"generate": 2, "evaluate": 2, **{rule: 1 for rule in AGGREGATION}}

    new_split = planned_jobs(tiny_run, tiny_variant(tmp_path, "split", split_pitch=[60, 64]))
    per_split_pitch = {"tokenize": 1, "reference": 1, "pretrain": 1, "train_lora": 2, "generate": 4, "evaluate": 4,
                       "train_phrases": 1, "calibration": 1, "base_adapter": 1, "generate_base": 1, "evaluate_base": 1}
    assert new_split == {**per_split_pitch, **{rule: 1 for rule in AGGREGATION}}


def test_report_html(tiny_run):
    proc = snakemake(tiny_run, "--report", "results/report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    for name in ("leaderboard.tsv", "calibration.png", "piano_rolls.png", "metric_distributions.png",
                 "training_curves.png", "best.json", "4. Listen"):
        assert name in html


def test_audio_previews_real_base_and_best_over_the_same_comping(tiny_run):
    import soundfile as sf

    from jazz_solo.listening import audio

    from jazz_solo.listening.previews import PAGE_AUDIO_BYTES

    listen = tiny_run / "results" / "report" / "listen"
    if audio.find_synth() is None:  # CI installs it (.ci/run); elsewhere the page says what to install
        page = (listen / "no-audio.html").read_text()
        assert "Audio previews skipped" in page and "apt-get install fluidsynth" in page
        pytest.skip(f"no synthesizer: {audio.INSTALL_HINT}")
    clips = json.loads((listen / "clips.json").read_text())["clips"]
    assert [c["kind"] for c in clips] == ["real", "base", "best", "best"]  # 1 test piece, 2 reval samples
    assert clips[1]["seed"] == clips[2]["seed"]  # base alone vs best: same comping, same seed
    page = listen / f"{clips[0]['piece_id']}.html"  # one page per piece, within the report's size limit
    assert page.read_text().count("<audio") == len(clips)
    assert sum((tiny_run / c["audio"]).stat().st_size for c in clips) <= PAGE_AUDIO_BYTES
    for clip in clips:
        path = tiny_run / clip["audio"]
        info = sf.info(str(path))
        assert info.samplerate == 48000 and info.channels == 2
        assert abs(info.duration / clip["midi_seconds"] - 1) <= 0.10, clip
        data, _ = sf.read(str(path))
        assert float((data**2).mean()) ** 0.5 > 1e-3, clip  # not silent


def test_failed_candidate_is_listed_as_failed_and_the_others_still_rank(tiny_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    board = (work / "results" / "sweep" / "leaderboard.tsv").read_text().splitlines()
    header = board[0].split("\t")
    candidates = [line.split("\t") for line in board[1:] if line.split("\t")[header.index("kind")] == "candidate"]
    loser = candidates[-1][header.index("candidate")]
    (work / "results" / "gen" / loser / "metrics.json").write_text(
        json.dumps({"status": "failed: no samples", "summary": {}, "realism_distance": None})
    )
    proc = snakemake(work, "--cores", "1", "results/sweep/leaderboard.tsv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [dict(zip(header, line.split("\t"))) for line in
            (work / "results" / "sweep" / "leaderboard.tsv").read_text().splitlines()[1:]]
    failed = [r for r in rows if r["candidate"] == loser][0]
    assert (failed["status"], failed["rank"], failed["excluded"]) == ("failed", "", "no samples")
    assert sorted(r["rank"] for r in rows if r["candidate"] != loser and r["kind"] == "candidate") == ["1", "2", "3"]


@pytest.mark.slow
def test_two_runs_from_scratch_give_identical_leaderboards(tiny_run, tmp_path):
    again = run_tiny(tmp_path / "again")
    for name in ("sweep/leaderboard.tsv", "sweep/leaderboard.md", "best/selection.json"):
        assert (again / "results" / name).read_bytes() == (tiny_run / "results" / name).read_bytes(), name
    first, second = (json.loads((w / "results" / "best" / "best.json").read_text()) for w in (tiny_run, again))
    assert first["adapter_sha256"] == second["adapter_sha256"]
    assert first["revalidation"] == second["revalidation"]


# --- issue 12: corrupt or stale results are rebuilt, never taken as good -------------------


def _copy(tiny_run: Path, tmp_path: Path) -> Path:
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def test_truncated_adapter_and_metrics_are_set_aside_and_rebuilt(tiny_run, tmp_path):
    work = _copy(tiny_run, tmp_path)
    results = work / "results"
    adapter = sorted((results / "train").glob("**/adapter"))[0]
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    train_id = adapter.parent.relative_to(results / "train").as_posix()
    other = [m for m in sorted((results / "gen").glob("**/metrics.json")) if train_id not in m.as_posix()][0]
    other.write_text(other.read_text()[:40])
    jobs = planned_jobs(work)  # loading the workflow sets both aside; the plan rebuilds them
    assert jobs["train_lora"] == 1 and jobs["evaluate"] == 3, jobs  # 2 candidates of that adapter + the truncated one
    assert (adapter.parent / "adapter.corrupt").is_dir() and not adapter.exists()
    assert (other.parent / "metrics.json.corrupt").is_file()


def test_failed_regeneration_leaves_no_old_ok_metrics(tiny_run, tmp_path):
    work = _copy(tiny_run, tmp_path)
    results = work / "results"
    metrics = sorted((results / "gen").glob("**/metrics.json"))[0]
    assert json.loads(metrics.read_text())["status"] == "ok"
    candidate = metrics.parent.relative_to(results / "gen").as_posix()
    adapter = next(a for a in (results / "train").glob("**/adapter")
                   if candidate.startswith(a.parent.relative_to(results / "train").as_posix() + "/"))
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "../no_such_base"  # intact files, but generation must fail
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    proc = snakemake(work, "--cores", "1", "--forcerun", "generate", "--keep-going",
                     f"results/gen/{candidate}/metrics.json")
    assert proc.returncode != 0
    assert not metrics.exists()  # the old "ok" score went with the samples it described
    log = (results / "logs" / "generate" / f"{candidate}.log").read_text()
    assert "Traceback" not in log and "no_such_base" in log


@pytest.mark.slow  # ~1 min on 2 busy cores; the fast suite checks the mechanism (test_hostile)
def test_revalidating_again_gives_a_byte_identical_archive(tiny_run, tmp_path):
    work = _copy(tiny_run, tmp_path)
    archive = work / "results" / "best" / "archive.tgz"
    before = archive.read_bytes()
    proc = snakemake(work, "--cores", "2", "--forcerun", "revalidate", "results/best/archive.tgz")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert archive.read_bytes() == before
