"""Rule audio_previews: playable clips of the real, base-only and best solos for the report (thin adapter)."""

from _common import job

from jazz_solo.listening import audio, previews

# one torch thread: the base-only solo's decoding is overhead-bound (see rule generate)
with job(snakemake, torch_threads=1) as run:
    result = previews.make_previews(
        **run.winner(),
        reval_jsonl=snakemake.input.reval_jsonl,
        reval_samples=snakemake.input.reval_samples,
        out_dir=snakemake.output[0],
        max_pieces=snakemake.params.max_pieces,
        per_piece=snakemake.params.per_piece,
        max_seconds=snakemake.params.max_seconds,
        workers=snakemake.threads,  # clips rendered side by side
    )
    if result["synth"] is None:  # the one line on the console; nothing else depends on the clips
        run.say(f"skipped, no synthesizer; install: {audio.INSTALL_HINT}")
    elif "error" in result:
        run.say(f"rendering failed ({result['error']}); the page says so")
