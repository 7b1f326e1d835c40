"""Rule audio_previews: playable clips of the real, base-only and best solos for the report (thin adapter)."""
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the jazz_solo package, also in conda envs
import torch  # noqa: E402

from jazz_solo import audio, listen, sweep  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
torch.set_num_threads(1)  # the base-only solo: decoding is overhead-bound (see rule generate)
selection = json.loads(Path(snakemake.input.selection).read_text())
result = listen.make_previews(
    sweep.resolve(snakemake.params.sections, selection["params"]),
    selection,
    adapter_dir=snakemake.input.adapter,
    pieces_tsv=snakemake.input.pieces,
    reval_jsonl=snakemake.input.reval_jsonl,
    reval_samples=snakemake.input.reval_samples,
    out_dir=snakemake.output[0],
    max_pieces=snakemake.params.max_pieces,
    per_piece=snakemake.params.per_piece,
    max_seconds=snakemake.params.max_seconds,
    workers=snakemake.threads,  # clips rendered side by side
)
if result["synth"] is None:  # the one line on the console; nothing else depends on the clips
    print(f"jazz-solo audio_previews: skipped, no synthesizer; install: {audio.INSTALL_HINT}", file=sys.stderr)
elif "error" in result:
    print(f"jazz-solo audio_previews: rendering failed ({result['error']}); the page says so", file=sys.stderr)
