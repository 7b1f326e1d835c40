"""The tiny sweep through `--workflow-profile profiles/slurm` on a real Slurm cluster.

Needs the one-node test cluster of tests/cluster/slurm_up.sh (CI starts it as root in .ci/run);
without one every test here skips and says so. One local run and one Slurm run of the same code,
side by side, with the same threads per rule (so torch computes the same numbers): the Slurm run has its
`pretrain` job killed with scancel while it runs, and is then run again, as a user would. Checked:
sacct lists every rule's jobs as COMPLETED with the CPUs, partition and GPU the profile asked for,
the per-rule log files are there, and the leaderboard, best.json and adapter bytes equal the local
run's. The profile is used as it is, except memory: each request is capped at half the test node's
memory (a 2-core CI machine has no 32 GB for pretrain), and the first status check comes after 1 s.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from jazz_solo.config import PROJECT_ROOT

pytestmark = pytest.mark.slurm

TINY = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"
PROFILE = PROJECT_ROOT / "profiles" / "slurm"
KILLED_RULE = "pretrain"  # killed mid-run: everything after it waits, the rerun must rebuild it
COMPARED = ("sweep/leaderboard.tsv", "sweep/leaderboard.md", "best/selection.json",
            "best/adapter/adapter_model.safetensors")


@functools.cache
def find_cluster() -> tuple[dict[str, int] | None, str]:
    """(CPUs and memory in MB of the test cluster's node, None) or (None, why there is none)."""
    how = "as root: tests/cluster/slurm_up.sh"
    missing = [tool for tool in ("sbatch", "sinfo", "sacct", "squeue", "scancel") if shutil.which(tool) is None]
    if missing:
        return None, f"no Slurm client tools ({', '.join(missing)}); {how}"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return None, "snakemake-executor-plugin-slurm not installed (requirements.txt pins it)"
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    text = conf.read_text() if conf.is_file() else ""
    host = re.search(r"^SlurmctldHost=([^\s(]+)(?:\(([^)]+)\))?", text, re.M)
    port = re.search(r"^SlurmctldPort=(\d+)", text, re.M)
    if host is None:
        return None, f"no Slurm controller configured in {conf}; {how}"
    try:  # a stopped controller makes sinfo retry for many seconds; a refused connection is instant
        socket.create_connection((host[2] or host[1], int(port[1]) if port else 6817), timeout=5).close()
    except OSError as err:
        return None, f"no Slurm controller answers at {host[1]} ({err.strerror or err}); {how}"
    info = subprocess.run(["sinfo", "-h", "-N", "-o", "%T %c %m"], capture_output=True, text=True, timeout=60)
    nodes = [line.split() for line in info.stdout.splitlines()
             if line.split() and line.split()[0].rstrip("*~#") in ("idle", "mixed", "allocated")]
    if info.returncode != 0 or not nodes:
        return None, f"no usable Slurm node ({(info.stderr or info.stdout).strip()[:200]}); {how}"
    acct = subprocess.run(["sacct", "-n", "-X", "-S", "now-1minutes"], capture_output=True, text=True, timeout=60)
    if acct.returncode != 0:
        return None, f"Slurm has no job accounting, which the executor plugin needs: {acct.stderr.strip()[:200]}"
    return {"cpus": int(nodes[0][1]), "mem_mb": int(nodes[0][2])}, ""


def snakemake(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(TINY), *args]


def threads_per_rule(cpus: int) -> dict[str, int]:
    """The same in both runs: data rules use up to 2 processes, torch jobs 1 thread (as test_workflow)."""
    two = min(2, cpus)
    return {"demo_midi": two, "ingest": two, "tokenize": two, "pretrain": 1, "train_lora": 1,
            "generate": 1, "revalidate": two}


def slurm_args(node: dict[str, int], threads: dict[str, int]) -> list[str]:
    """profiles/slurm as it is, memory capped to fit the test node (CLI values replace whole keys)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    cap = node["mem_mb"] // 2

    def sized(resources: dict) -> dict:
        return {k: (min(v, cap) if k == "mem_mb" else v) for k, v in resources.items()}

    default = [f"{k}={v}" for k, v in sized(profile.get("default-resources", {})).items()]
    per_rule = [f"{rule}:{k}={v}" for rule, res in profile.get("set-resources", {}).items()
                for k, v in sized(res).items()]
    return ["--workflow-profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "1",
            "--set-threads", *(f"{r}={n}" for r, n in threads.items()),
            "--default-resources", *default, *(["--set-resources", *per_rule] if per_rule else [])]


def squeue_jobs(workdir: Path) -> list[tuple[str, str, str]]:
    """(job id, state, comment) of this run's jobs in the queue."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k|%Z"], capture_output=True, text=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 3]
    return [(job, state, comment) for job, state, comment, wd in rows if Path(wd) == workdir]


def sacct_jobs(workdir: Path, since: str) -> list[dict[str, str]]:
    fields = ["JobID", "Comment", "Partition", "AllocCPUS", "AllocTRES", "State", "WorkDir"]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True).stdout
    jobs = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.count("|") == len(fields) - 1]
    for job in jobs:
        match = re.match(r"rule_(.+?)(?:_wildcards_.*)?$", job["Comment"])
        job["rule"] = match[1] if match else ""
    return [job for job in jobs if job["WorkDir"] and Path(job["WorkDir"]) == workdir]


def job_stats(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def gpu_rules(output: str) -> set[str]:
    """Rules whose jobs the Slurm run's log shows with a gpu resource."""
    blocks = re.findall(r"^rule (\w+):\n((?:    .*\n)+)", output, re.M)
    return {rule for rule, body in blocks if re.search(r"resources: .*\bgpu=[1-9]", body)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    node, why_not = find_cluster()
    if node is None:
        pytest.skip(why_not)
    threads = threads_per_rule(node["cpus"])
    local, cluster = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("slurm")
    since = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")

    # The local run goes beside the Slurm one (it fills the Slurm run's waits for job starts and polls).
    local_run = subprocess.Popen(snakemake(local, "--cores", str(min(2, node["cpus"])),
                                           "--set-threads", *(f"{r}={n}" for r, n in threads.items())),
                                 cwd=local, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    # First Slurm run: kill the pretrain job once it runs, let the rest of the run finish.
    first = subprocess.Popen(snakemake(cluster, *slurm_args(node, threads)), cwd=cluster, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = None
    while killed is None and first.poll() is None:
        running = [job for job, state, comment in squeue_jobs(cluster)
                   if state == "RUNNING" and comment.startswith(f"rule_{KILLED_RULE}_")]
        if running:
            killed = running[0]
            subprocess.run(["scancel", killed], check=True)
        time.sleep(0.2)
    first_log = first.communicate()[0]
    assert killed is not None, f"never saw a running {KILLED_RULE} job:\n{first_log[-4000:]}"
    assert first.returncode != 0, first_log[-4000:]
    assert re.search(rf"SLURM-job '{killed}' failed, SLURM status is: 'CANCELLED", first_log), first_log[-4000:]

    again = subprocess.run(snakemake(cluster, *slurm_args(node, threads)), capture_output=True, text=True, cwd=cluster)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    local_log = local_run.communicate()[0]
    assert local_run.returncode == 0, local_log[-4000:]
    return {"local": local, "cluster": cluster, "since": since, "killed": killed, "threads": threads,
            "local_jobs": job_stats(local_log), "first_log": first_log, "again_log": again.stdout + again.stderr}


def test_every_rule_ran_through_sbatch_and_completed(runs):
    jobs = sacct_jobs(runs["cluster"], runs["since"])
    by_id = {job["JobID"]: job for job in jobs}
    assert by_id[runs["killed"]]["State"].startswith("CANCELLED") and by_id[runs["killed"]]["rule"] == KILLED_RULE

    local_rules = set(re.findall(r"^localrule (\w+):", runs["first_log"] + runs["again_log"], re.M))
    expected = {rule: n for rule, n in runs["local_jobs"].items() if rule not in local_rules}
    assert expected and local_rules <= {"all"}  # every job that does work was submitted
    completed = Counter(job["rule"] for job in jobs if job["State"] == "COMPLETED")
    assert completed == Counter(expected)
    assert {job["State"] for job in jobs} <= {"COMPLETED", by_id[runs["killed"]]["State"]}

    gpu = gpu_rules(runs["first_log"] + runs["again_log"])
    assert {"pretrain", "train_lora", "generate", "revalidate"} <= gpu
    for job in jobs:
        if job["rule"] in runs["threads"]:
            assert int(job["AllocCPUS"]) == runs["threads"][job["rule"]], job
        wants_gpu = job["rule"] in gpu
        assert (job["Partition"], "gres/gpu=1" in job["AllocTRES"]) == (("gpu", True) if wants_gpu else ("cpu", False)), job


def test_outputs_equal_the_local_run(runs):
    local, cluster = runs["local"] / "results", runs["cluster"] / "results"
    for name in COMPARED:
        assert (cluster / name).read_bytes() == (local / name).read_bytes(), name
    best = [json.loads((d / "best" / "best.json").read_text()) for d in (local, cluster)]
    assert best[0] == best[1]
    weights = (cluster / "best" / "adapter" / "adapter_model.safetensors").read_bytes()
    assert best[1]["adapter_sha256"] == hashlib.sha256(weights).hexdigest()


def test_per_rule_logs_are_there(runs):
    local, cluster = runs["local"] / "results" / "logs", runs["cluster"] / "results" / "logs"
    logs = sorted(p.relative_to(local) for p in local.rglob("*.log"))
    assert logs and sorted(p.relative_to(cluster) for p in cluster.rglob("*.log")) == logs
    # Slurm keeps the killed job's own log (the plugin deletes those of jobs that succeeded).
    kept = list((runs["cluster"] / ".snakemake" / "slurm_logs").rglob(f"{runs['killed']}.log"))
    assert kept and f"rule_{KILLED_RULE}" in str(kept[0])
