"""How long `snakemake -n` takes to build the DAG of a 200-candidate sweep (goal: < 20 s).

Baseline in the same run: the same workflow with a single candidate. Both in a fresh empty
work directory (every job pending: the largest DAG), config = config.yaml + a sweep override.

    python bench/bench_dag.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SWEEP_200 = {  # 10 training candidates x 20 generation settings = 200 candidates
    "lora_r": [4, 8, 16, 32, 64],
    "lora_lr": [1.0e-3, 2.0e-3],
    "temperature": [0.8, 0.9, 1.0, 1.1, 1.2],
    "top_p": [0.85, 0.9, 0.95, 1.0],
}
SWEEP_1 = {"lora_r": [8], "temperature": [1.0]}


def dry_run(sweep: dict, repeats: int) -> tuple[float, dict[str, int]]:
    """Best wall time of `snakemake -n` over ``repeats`` and the planned job counts."""
    with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
        cfg = Path(tmp) / "sweep.yaml"
        cfg.write_text(yaml.safe_dump({"sweep": sweep}))
        cmd = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", tmp, "--configfile", str(cfg)]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.exit(f"snakemake -n failed:\n{proc.stderr[-3000:]}")
    table = (proc.stdout + proc.stderr).split("Job stats:", 1)[1].split("total", 1)[0]
    return min(times), {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base_s, base_jobs = dry_run(SWEEP_1, args.repeats)
    big_s, big_jobs = dry_run(SWEEP_200, args.repeats)
    print(f"1 candidate   : {base_s:6.2f} s  ({sum(base_jobs.values())} jobs)")
    print(f"{big_jobs.get('evaluate', 0)} candidates: {big_s:6.2f} s  ({sum(big_jobs.values())} jobs: "
          + ", ".join(f"{k} {v}" for k, v in big_jobs.items()) + ")")
    print(f"ratio 200/1   : {big_s / base_s:.2f}x; goal < 20 s: {'met' if big_s < 20 else 'MISSED'}")


if __name__ == "__main__":
    main()
