"""Rule train_phrases: note steps of the lead of every target training piece (whole pieces),
what the copy check matches solos against (thin adapter; jazz_solo.evaluation.copycheck)."""
import logging

from _common import job

from jazz_solo.evaluation import calibration, copycheck
from jazz_solo.data.midi_io import MidiError, load_notes, split_roles

with job(snakemake) as run:
    split_pitch = run.settings.data.split_pitch
    leads = {}
    for piece_id, path in calibration.pieces_where(snakemake.input.pieces, "target", ("train",)):
        try:
            leads[piece_id] = split_roles(load_notes(path), split_pitch)[1]
        except MidiError as exc:  # ingest already quarantines broken files; a file changed since is skipped
            logging.warning("skipping %s", exc)
    copycheck.write_phrases(snakemake.output[0], leads)
    logging.info("%d training pieces, %d lead notes", len(leads), sum(map(len, leads.values())))
