# Audio previews for the report (jazz_solo/listening/previews.py): per held-out piece, the real right hand, the
# base model alone and the best's revalidated samples over the same comping, rendered with
# FluidSynth. Without a synthesizer the page says what to install; `synth` is a param, so
# installing one reruns this rule (and only it) on the next `snakemake`.


rule audio_previews:
    input:
        unpack(winner_inputs),
        reval_jsonl=rules.revalidate.output.jsonl,
        reval_samples=rules.revalidate.output.samples,
    output:
        # One page per piece (<piece>.html, or no-audio.html saying why): the report's 2-MiB
        # limit per page, see jazz_solo/listening/previews.py. Clips, their MIDI and clips.json beside them.
        report(
            directory(paths.file("listen")),
            patterns=["{piece}.html"],
            caption="../report/listen.rst",
            category="4. Listen",
            labels={"piece": "{piece}"},
        ),
    log:
        paths.log("select/audio_previews"),
    benchmark:
        paths.benchmark("audio_previews")
    conda:
        "../envs/audio.yaml"
    threads: 2  # clips render two at a time (the base-only solo decodes on one thread)
    resources:
        gpu=1,
    params:
        sections=candidate_sections(),
        synth=synth_status(),
        max_pieces=2,
        per_piece=4,
        max_seconds=60.0,  # clips are previews: the first minute at most
    script:
        "../workflow_scripts/audio_previews.py"
