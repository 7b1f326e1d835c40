"""One short check of the CUDA path on a GPU machine, printed as one table (about 10 minutes on an H100).

    python bench/gpu_check.py --prepare     # where a package registry is: wheels + dev-data subset
    python bench/gpu_check.py               # on the GPU machine, with whatever python has torch

For this workplace's lent H100/H200 (Python 3.12; 64 MiB may travel to it):
    python bench/gpu_check.py --prepare --for-lent-machine   # then carry bench/.gpu

A GPU machine may have another Python and torch and no package registry. ``--prepare`` (run here,
on a machine with pip access and ../shared/data) puts into bench/.gpu/ (git-ignored): wheels of
every requirement except torch for the given Python version, and a subset of the PiJAMA dev data.
The check itself uses the torch it finds (the python running this script, or ``--python``): a
virtualenv with ``--system-site-packages`` over it, the wheels installed offline only where a
requirement is missing, the repo itself on PYTHONPATH. Then, each step with its own time limit:

1. the CUDA-marked tests (tests/test_cuda.py: bf16 autocast forward vs fp32, bf16 training steps);
2. the tiny pipeline (tests/configs/tiny.yaml) through Snakemake on the GPU (bf16 autocast);
3. bench_train.py at pod size (6 x 512, 8 heads) on the GPU: tokens/s, FLOP/s vs bf16 matmul;
4. bench_generate.py at pod size (it decodes on the CPU: the live-play path; the GPU is not used);
5. a pod-size quality run through the pipeline: the 6 x 512 base pretrained on the dev-data subset
   for ``--pretrain-steps`` (a few minutes' worth), LoRA on one dev artist, solos over its test
   pieces: base and adapter NLL per lead token on the target's val windows (eval.json), and the
   samples' realism_distance, harmonic_fit_gain and lead notes (metrics.json of the best).

Every step's full output goes to bench/.gpu/logs/<step>.log; the table says ok / failed / timeout,
its seconds and its figures. Exit status 0 only when every step is ok.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".gpu"
DEV_DATA = ROOT.parent / "shared" / "data" / "pijama_studio"
TARGET_ARTIST = "Ray Bryant"  # the dev target README's calibration figures use
POD_MODEL = {"n_layer": 6, "n_embd": 512, "n_head": 8, "intermediate_size": 1536, "dropout": 0.1}


# Not installed for the check: torch is the machine's own; the lint tools never run there.
NOT_FOR_THE_CHECK = r"(torch|triton|nvidia-|jazz-solo|ruff|snakefmt|black|shfmt-py)\b"


# Packages the lent GPU machines' image has in versions that suit us (read there 2026-11-27), and
# cryptography, which only an extra nobody imports in the check (pyjwt[crypto] via mcp) asks for.
LENT_IMAGE_HAS = (
    "numpy", "pandas", "transformers", "matplotlib", "pillow", "fonttools", "kiwisolver", "contourpy",
    "hf-xet", "tokenizers", "sympy", "networkx", "pygments", "regex", "safetensors", "mpmath", "pyyaml",
    "jinja2", "markupsafe", "requests", "urllib3", "charset-normalizer", "idna", "certifi", "psutil", "tqdm",
    "filelock", "fsspec", "pyparsing", "cycler", "python-dateutil", "six", "typing-extensions", "attrs",
    "cryptography", "huggingface-hub", "pytest", "pluggy", "iniconfig", "packaging", "click", "rich",
    "markdown-it-py", "mdurl",
)


def requirements_without_torch() -> Path:
    reqs = WORK / "requirements-no-torch.txt"
    reqs.parent.mkdir(parents=True, exist_ok=True)
    reqs.write_text("".join(line + "\n" for line in (ROOT / "requirements.txt").read_text().splitlines()
                            if not re.match(r"\s*" + NOT_FOR_THE_CHECK, line, re.I)))
    return reqs


def prepare(python_version: str, corpus_artists: int, omit: list[str]) -> None:
    """Wheels of this environment's packages but torch (the versions known to work together), for
    ``python_version``, and a dev-data subset, into bench/.gpu/. ``omit``: packages the GPU machine
    already has, left out so that what travels there stays small."""
    wheels, data = WORK / "wheels", WORK / "data"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    requirements_without_torch()
    from packaging.utils import canonicalize_name  # here, not on the GPU machine: only --prepare needs it

    left_out = {canonicalize_name(name) for name in omit}
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    pins = [line for line in freeze.splitlines() if "==" in line and " @ " not in line and not line.startswith("#")
            and not re.match(NOT_FOR_THE_CHECK, line, re.I) and canonicalize_name(line.split("==")[0]) not in left_out]
    binary = ["--only-binary=:all:", "--python-version", python_version,
              "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64"]
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels)]
    if subprocess.run([*download, *binary, *pins], capture_output=True).returncode != 0:
        for pin in pins:  # one at a time: a package without a wheel is built into one here
            if subprocess.run([*download, *binary, pin], capture_output=True).returncode != 0:
                subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), pin],
                               check=True)
    artists = sorted(p for p in DEV_DATA.iterdir() if p.is_dir())
    chosen = [a for a in artists if a.name != TARGET_ARTIST][:corpus_artists] + [DEV_DATA / TARGET_ARTIST]
    shutil.rmtree(data, ignore_errors=True)
    for artist in chosen:
        shutil.copytree(artist, data / artist.name)
    size = sum(f.stat().st_size for f in WORK.rglob("*") if f.is_file()) / 2**20
    print(f"bench/.gpu: {len(list(wheels.glob('*.whl')))} wheels for Python {python_version}, "
          f"{len(chosen)} artists of dev data; {size:.0f} MiB in all")


def environment(python: str) -> dict[str, str]:
    """A venv over the found torch; missing requirements from the prepared wheels, offline."""
    venv = WORK / "venv"
    if not (venv / "bin" / "python").exists():
        # No pip/setuptools of its own (they would shadow the found ones): pip comes from the found python.
        subprocess.run([python, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
        # If the found python is itself a venv, --system-site-packages sees its base, not it: a .pth
        # file puts the found python's own site-packages (its torch) on the new venv's path.
        found = subprocess.run([python, "-c", "import site, json; print(json.dumps(site.getsitepackages()))"],
                               capture_output=True, text=True, check=True).stdout
        ours = subprocess.run([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(ours, "_gpu_check_found_python.pth").write_text("\n".join(json.loads(found)) + "\n")
    reqs = requirements_without_torch()
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--no-index",
                            "--find-links", str(WORK / "wheels"), "-r", str(reqs)], capture_output=True, text=True)
    if "Would install" in check.stdout or check.returncode != 0:
        # Without resolving: the machine's own versions of what --prepare --omit left behind stand,
        # even where a carried wheel pins an older one (a GPU image's packaging 26 against
        # snakemake's <26), and extras nobody imports here (pyjwt[crypto] via mcp) need no wheel.
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        *map(str, sorted((WORK / "wheels").glob("*.whl")))], check=True)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def run(step: str, cmd: list[str], env: dict, timeout: int, cwd: Path = ROOT) -> tuple[str, float, str]:
    log = WORK / "logs" / f"{step}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        status, out = ("ok" if proc.returncode == 0 else f"failed ({proc.returncode})"), proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as err:
        status = f"timeout ({timeout} s)"
        out = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
    log.write_text(out)
    return status, time.monotonic() - start, out


def progress(rows: list, row: tuple) -> None:
    """Keep the row for the table and print it now, so a lease that ends mid-check still shows the rows done."""
    rows.append(row)
    print(f"gpu_check: {row[0]}: {row[1]} in {row[2]:.0f} s: {row[3]}", flush=True)


def last_line(out: str, pattern: str = r".") -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip() and re.search(pattern, line)]
    return lines[-1][:110] if lines else ""


def snakemake_cmd(python: str, workdir: Path, configfile: Path) -> list[str]:
    return [python, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(configfile), "--cores", "all", "--resources", "gpu=1", "--workflow-profile", "none"]


def quality_override(data: Path, pretrain_steps: int) -> dict:
    """Config override (JSON is YAML) for the pod-size quality run on the prepared dev data."""
    return {
        "data": {"corpus": [str(p) for p in sorted(data.iterdir()) if p.name != TARGET_ARTIST],
                 "target": [str(data / TARGET_ARTIST)]},
        "model": POD_MODEL,
        "pretrain": {"max_steps": pretrain_steps, "batch_size": 32, "lr": 6.0e-4, "warmup_steps": 100,
                     "eval_every": 250, "checkpoint_every": 500},
        "lora": {"max_steps": 300, "eval_every": 50},
    }


def quality_figures(workdir: Path) -> str:
    results = workdir / "results"
    evals = sorted(results.glob("train/**/eval.json"))
    best = results / "best" / "best.json"
    parts = []
    if evals:
        ev = json.loads(evals[0].read_text())
        parts.append(" ".join(f"{k}={ev[k]:.3f}" for k in ("base_nll", "adapter_nll", "improvement")
                              if isinstance(ev.get(k), (int, float))))
    if best.exists():
        record = json.loads(best.read_text())
        metrics = record.get("revalidation") or record.get("sweep_metrics") or {}
        summary = metrics.get("summary", metrics)
        for key in ("realism_distance", "avg_harmonic_fit_gain", "avg_lead_notes"):
            value = metrics.get(key, summary.get(key))
            if isinstance(value, (int, float)):
                parts.append(f"{key}={value:.3f}")
    return "; ".join(p for p in parts if p) or "no eval.json / best.json (see log)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prepare", action="store_true", help="download wheels + copy dev data into bench/.gpu/")
    ap.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                    help="--prepare: wheels for this Python (the GPU machine's)")
    ap.add_argument("--corpus-artists", type=int, default=20, help="--prepare: dev artists copied for the corpus")
    ap.add_argument("--omit", nargs="*", default=[], metavar="PACKAGE",
                    help="--prepare: packages the GPU machine has already (their wheels stay behind)")
    ap.add_argument("--for-lent-machine", action="store_true",
                    help="--prepare for this workplace's lent H100/H200: Python 3.12, 8 corpus artists, "
                         "--omit what its image has")
    ap.add_argument("--python", default=sys.executable, help="the python whose torch to use")
    ap.add_argument("--pretrain-steps", type=int, default=1500, help="pod-size pretraining steps (~2 min on an H100)")
    ap.add_argument("--quality-timeout", type=int, default=420,
                    help="seconds for the pod-size quality run (lower it to fit a short device lease)")
    args = ap.parse_args()
    if args.prepare and args.for_lent_machine:
        prepare("3.12", 8, [*args.omit, *LENT_IMAGE_HAS])
        return 0
    if args.prepare:
        prepare(args.python_version, args.corpus_artists, args.omit)
        return 0

    probe = subprocess.run([args.python, "-c", "import torch; print(torch.__version__, torch.cuda.is_available(), "
                            "torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"gpu_check: {args.python} has no torch: {probe.stderr.strip()[-300:]}")
        return 1
    torch_version, cuda, gpu = probe.stdout.strip().split(" ", 2)
    if cuda != "True":
        print(f"gpu_check: torch {torch_version} sees no CUDA GPU; nothing to check")
        return 1
    env = environment(args.python)
    py = str(WORK / "venv" / "bin" / "python")
    rows = []

    status, secs, out = run("cuda_tests", [py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                                           "tests/test_cuda.py"], env, 120)
    progress(rows, ("CUDA tests (bf16 forward, bf16 training)", status, secs, last_line(out, r"passed|failed|error")))

    tiny = WORK / "tiny"
    shutil.rmtree(tiny, ignore_errors=True)
    status, secs, out = run("tiny_pipeline", snakemake_cmd(py, tiny, ROOT / "tests" / "configs" / "tiny.yaml"), env, 240)
    device = last_line((tiny / "results" / "logs").joinpath("pretrain").exists() and "\n".join(
        p.read_text() for p in (tiny / "results" / "logs" / "pretrain").rglob("*.log")) or "", r"device")
    progress(rows, ("tiny pipeline, bf16 on the GPU", status, secs, device or last_line(out, r"steps .* done")))

    status, secs, out = run("bench_train", [py, "bench/bench_train.py", "--layers", "6", "--embd", "512", "--heads", "8",
                                            "--batch", "32", "--steps", "40", "--warm-pass"], env, 180)
    progress(rows, ("bench_train 6 x 512 (GPU)", status, secs, last_line(out, r"tok|FLOP")))

    status, secs, out = run("bench_generate", [py, "bench/bench_generate.py", "--sizes", "pod", "--files", "1",
                                               "--new-tokens", "256"], env, 180)
    progress(rows, ("bench_generate 6 x 512 (CPU decode)", status, secs, last_line(out, r"tok/s|real-time|x")))

    data = WORK / "data"
    if not data.is_dir():
        progress(rows, ("pod-size quality run", "skipped", 0.0, "no bench/.gpu/data: run --prepare where the dev data is"))
    else:
        quality = WORK / "quality"
        shutil.rmtree(quality, ignore_errors=True)
        quality.mkdir(parents=True)
        (quality / "override.yaml").write_text(json.dumps(quality_override(data, args.pretrain_steps)))
        status, secs, out = run("quality_run", snakemake_cmd(py, quality, quality / "override.yaml"), env,
                                  args.quality_timeout)
        progress(rows, ("pod-size quality run (6 x 512, dev data)", status, secs, quality_figures(quality)))

    width = max(len(r[0]) for r in rows)
    print(f"gpu_check: {gpu}, torch {torch_version}, python {sys.version.split()[0]}; logs in {WORK / 'logs'}")
    print(f"| {'check'.ljust(width)} | status | seconds | figures |")
    print(f"|{'-' * (width + 2)}|--------|---------|---------|")
    for name, status, secs, figures in rows:
        print(f"| {name.ljust(width)} | {status} | {secs:7.0f} | {figures} |")
    return 0 if all(r[1] in ("ok", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
