"""``python -m jazz_solo generate``: improvise a solo over one conditioning MIDI file, outside Snakemake."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import _checks
from ..artifacts import verify_adapter, verify_base
from ..config import load_config, validate_config
from ..settings import Settings
from . import add_config, add_output


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="improvise a right-hand solo over a left-hand (conditioning) MIDI file",
        description="Defaults come from config.yaml (generate: and data: sections); flags override them.",
    )
    p.add_argument("--adapter", required=True, type=Path, help="peft adapter dir (results/train/.../adapter)")
    p.add_argument("--base", type=Path, default=None, help="base model dir (default: the adapter's recorded base)")
    p.add_argument("--conditioning", required=True, type=Path, help="MIDI file; notes <= split pitch condition")
    add_output(p, "OUT.mid (with several samples: OUT_s0.mid, ...)", "--out", required=True)
    add_config(p)
    p.add_argument("--split-pitch", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--primer-max-tokens", type=int)
    p.add_argument("--continuity-seconds", type=float, help="seconds of solo carried into the next window")
    p.add_argument("--listening-guidance", type=float,
                   help="weight of what the real comping adds over a semitone-moved one (0: off; "
                        "default generate.listening_guidance, auto: 0.5 windowed, 1 causal)")
    p.add_argument("--num-samples", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--window-seconds", type=float)
    p.add_argument("--max-seconds", type=float, help="cap on the conditioning length (default from config)")
    p.add_argument("--device", default=None, help="cpu / cuda (default: cuda when present)")
    p.set_defaults(func=run)


def _override(section: dict, key: str, value) -> None:
    if value is not None:
        section[key] = value


def _check_flags(args: argparse.Namespace) -> None:
    """Values the schema cannot catch (NaN/inf pass its bounds) or that would exhaust memory."""
    _checks.number("--temperature (generate.temperature)", args.temperature, 0, None, low_inclusive=False)
    _checks.number("--top-p (generate.top_p)", args.top_p, 0, 1, low_inclusive=False)
    _checks.number("--top-k (generate.top_k)", args.top_k, 0)
    _checks.number("--primer-max-tokens (generate.primer_max_tokens)", args.primer_max_tokens, 1)
    _checks.number("--continuity-seconds", args.continuity_seconds, 0)
    _checks.number("--listening-guidance (generate.listening_guidance)", args.listening_guidance, 0, 10)
    _checks.number("--num-samples (generate.num_samples)", args.num_samples, 1, _checks.MAX_NUM_SAMPLES)
    _checks.number("--split-pitch (data.split_pitch)", args.split_pitch, 0, 127)
    _checks.number("--window-seconds (data.window_seconds)", args.window_seconds, 0, None, low_inclusive=False)
    _checks.number("--max-seconds (generate.max_seconds)", args.max_seconds, 0, None, low_inclusive=False)
    out = args.output if args.output.suffix else args.output.with_suffix(".mid")
    _checks.output_file("--output", args.output)
    _checks.output_file("--output", out)
    if not args.conditioning.is_file():
        raise ValueError(f"--conditioning {args.conditioning}: no such file")


def run(args: argparse.Namespace) -> int:
    from ..generation.generate import conditioning_part, generate_piece, settings_for_model, write_sample
    from ..data.midi_io import load_notes
    from ..training.model import MUST_MATCH, adapter_base_dir, load_for_inference, recorded_base_data
    from ..generation.sampling import sample_seed

    _check_flags(args)
    # Flags are config overrides: written into the config, validated with it, then typed once.
    config = load_config(*args.config)
    gen, data = config["generate"], config["data"]
    for key in ("temperature", "top_p", "top_k", "primer_max_tokens", "continuity_seconds", "num_samples", "seed",
                "max_seconds", "listening_guidance"):
        _override(gen, key, getattr(args, key))
    # The model's own data settings (vocabulary, split pitch) are the defaults here, not config.yaml's.
    base_dir = args.base if args.base is not None else adapter_base_dir(args.adapter)
    data.update({k: v for k, v in recorded_base_data(base_dir).items() if k in MUST_MATCH})
    _override(data, "split_pitch", args.split_pitch)
    _override(data, "window_seconds", args.window_seconds)
    if args.window_seconds is not None:  # the hop only shapes training data; keep the pair valid
        data["hop_seconds"] = min(data["hop_seconds"], args.window_seconds)
    validate_config(config)  # flags go through the schema too: one-line error naming the key
    s = Settings.from_config(config)
    # the merged values too: a config file's .nan passes the schema's bounds as well
    _checks.number("generate.temperature", s.generate.temperature, 0, None, low_inclusive=False)
    _checks.number("generate.top_p", s.generate.top_p, 0, 1, low_inclusive=False)
    _checks.number("generate.num_samples", s.generate.num_samples, 1, _checks.MAX_NUM_SAMPLES)
    _checks.number("generate.max_seconds", s.generate.max_seconds, 0, None, low_inclusive=False)
    verify_adapter(args.adapter)  # a truncated safetensors file: one line, not a SafetensorError traceback
    verify_base(base_dir)
    device = _checks.device(args.device)

    split_pitch, max_seconds = s.data.split_pitch, s.generate.max_seconds
    cond, seconds = conditioning_part(load_notes(args.conditioning), split_pitch, max_seconds)
    if not cond:
        within = f" in the first {max_seconds:g} s" if max_seconds else ""  # e.g. a long silent intro
        raise ValueError(f"{args.conditioning}: no notes <= split pitch {split_pitch}{within} to condition on")
    model = load_for_inference(args.adapter, base_dir=args.base, device=device)
    seeds = [sample_seed(s.generate.seed, 0, k) for k in range(s.generate.num_samples)]
    settings = settings_for_model(s.gen, model, args.adapter)
    result = generate_piece(model, cond, seconds, settings, seeds)
    out = args.output if args.output.suffix else args.output.with_suffix(".mid")
    for k, solo in enumerate(result.solos):
        path = out if len(seeds) == 1 else out.with_name(f"{out.stem}_s{k}{out.suffix}")
        midi, solo_midi = write_sample(path, cond, solo)
        print(json.dumps({"midi": str(midi), "solo_midi": str(solo_midi), "seed": seeds[k], "seconds": round(seconds, 3),
                          "new_tokens": result.new_tokens[k], "lead_notes": len(solo),
                          "wall_s": round(result.wall_s, 3)}))
    return 0
