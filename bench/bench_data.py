"""Data-stage throughput: ingest + tokenize (package functions, as the rules call them).

    python bench/bench_data.py            # 200 dev files with 1 and 2 worker processes, ratio (goal >= 1.7x)
    python bench/bench_data.py --all      # also: all dev files with 2 workers (goal <= 10 min)

Uses ../shared/data/pijama_studio (or --data); the default config's data section.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from jazz_solo.config import PROJECT_ROOT, load_config
from jazz_solo.data.dataset import build_dataset
from jazz_solo.data.ingest import ingest
from jazz_solo.settings import DataSettings

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "pijama_studio"


def sample(root: Path, count: int) -> list[Path]:
    """Every k-th file of the sorted dev data (deterministic)."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    return files[:: max(1, len(files) // count)][:count]


def run(corpus: list[str], target: list[str], workers: int, config: dict) -> dict:
    """Time ingest then tokenize into a scratch folder; returns timings and counts."""
    data = config["data"]
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        pieces, quarantined = ingest(corpus, target, data["split_ratios"], config["seed"], out / "pieces.tsv",
                                     out / "quarantine.tsv", threads=workers)
        t1 = time.perf_counter()
        summary = build_dataset(pieces, out / "split", DataSettings.from_config(data), threads=workers)
        t2 = time.perf_counter()
    files = len(pieces) + len(quarantined)
    examples = sum(sum(v.values()) for v in summary["examples"].values())
    tokens = sum(sum(v.values()) for v in summary["tokens"].values())
    return dict(files=files, quarantined=len(quarantined), ingest_s=t1 - t0, tokenize_s=t2 - t1, total_s=t2 - t0, files_per_s=files / (t2 - t0),
                examples=examples, tokens=tokens)


def show(label: str, r: dict) -> None:
    print(f"{label:<22} {r['files']:5d} files ({r['quarantined']} quarantined)  ingest {r['ingest_s']:7.1f} s  tokenize {r['tokenize_s']:7.1f} s  "
          f"total {r['total_s']:7.1f} s  {r['files_per_s']:6.2f} files/s  {r['examples']:8d} examples  "
          f"{r['tokens'] / 1e6:7.1f} M tokens", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PiJAMA-layout folder")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions (best is reported)")
    parser.add_argument("--all", action="store_true", help="also prepare every file with 2 workers")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"bench_data: no dev data at {args.data} (pass --data)", file=sys.stderr)
        return 2
    config = load_config()
    files = [str(p) for p in sample(args.data, args.files)]
    target = files[: max(3, len(files) // 10)]  # a tenth of the sample plays the target
    best: dict[int, dict] = {}
    for rep in range(args.repeat):  # interleaved, best of each: other load on the machine hits both alike
        for workers in (1, 2):
            r = run(files, target, workers, config)
            show(f"{workers} worker(s), run {rep + 1}", r)
            if workers not in best or r["total_s"] < best[workers]["total_s"]:
                best[workers] = r
    print(f"best: {best[1]['files_per_s']:.2f} files/s with 1 worker, {best[2]['files_per_s']:.2f} with 2; "
          f"speed-up {best[2]['files_per_s'] / best[1]['files_per_s']:.2f}x (goal >= 1.7x)")
    if args.all:
        artists = sorted((sum(1 for _ in d.rglob("*.mid*")), d.name) for d in args.data.iterdir() if d.is_dir())
        everything = run([str(args.data)], [str(args.data / artists[-1][1])], 2, config)  # largest artist: target
        show("all files, 2 workers", everything)
        print(f"all {everything['files']} files prepared in {everything['total_s'] / 60:.1f} min (goal <= 10 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
