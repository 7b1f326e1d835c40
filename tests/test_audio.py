"""Audio previews: a real FluidSynth render of a generated-style file (comping + solo tracks),
decoded and measured with numpy; the CLI's one-line refusals.

Rendering tests need FluidSynth and a GM SoundFont: skipped (with what to install) on a machine
without them, but failed under CI, whose .ci/run installs them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jazz_solo.listening import audio
from jazz_solo.__main__ import main
from jazz_solo.data.midi_io import write_midi
from jazz_solo.data.tokens import Note

FRAME = 0.05  # seconds per energy frame


@pytest.fixture
def synth() -> audio.Synth:
    found = audio.find_synth()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install the synthesizer: {audio.INSTALL_HINT}")
        pytest.skip(f"no synthesizer: {audio.INSTALL_HINT}")
    return found


def two_hands() -> tuple[list[Note], list[Note]]:
    """8 s of left-hand chords; a right-hand line at 1-3.5 s and 5-7 s (a gap of comping alone between)."""
    comping = [Note(t, t + 0.9, p, 70) for t in np.arange(0.0, 8.0, 1.0) for p in (48, 52, 55)]
    solo = [Note(t, t + 0.22, 72 + (i * 5) % 12, 90)
            for i, t in enumerate([*np.arange(1.0, 3.5, 0.25), *np.arange(5.0, 7.0, 0.25)])]
    return comping, solo


def frame_energy(x: np.ndarray, sr: int) -> np.ndarray:
    """(frames, 2) mean square per channel."""
    n = int(FRAME * sr)
    frames = len(x) // n
    return (x[: frames * n].reshape(frames, n, 2) ** 2).mean(axis=1)


def test_render_generated_file_duration_rate_and_solo_on_its_channel(tmp_path, synth):
    import soundfile as sf

    comping, solo = two_hands()
    midi = write_midi(tmp_path / "piece_s0.mid", {"comping": comping, "solo": solo})  # as generate writes it
    out = tmp_path / "piece_s0.opus"
    assert main(["render", str(midi), "-o", str(out)]) == 0

    info = sf.info(str(out))
    midi_seconds = max(n.end for n in comping + solo)
    assert (info.samplerate, info.channels, info.format, info.subtype) == (48000, 2, "OGG", "OPUS")
    assert midi_seconds <= info.duration <= 1.1 * midi_seconds
    assert out.stat().st_size < 100_000  # ~48 kbit/s: 8 s is ~50 kB (FLAC would be ~10x)

    x, sr = sf.read(str(out), always_2d=True)
    energy = frame_energy(x, sr)
    t = (np.arange(len(energy)) + 0.5) * FRAME
    right_share = energy[:, 1] / (energy.sum(axis=1) + 1e-12)  # solo is panned right, comping left
    in_solo = np.array([any(n.start + 0.02 <= ti <= n.end for n in solo) for ti in t])
    comping_only = (t > 3.9) & (t < 4.9)  # solo released, comping still playing
    assert energy[in_solo].sum(axis=1).min() > 1e-5  # every solo note sounds
    assert right_share[in_solo].mean() > 0.5 > 0.25 > right_share[comping_only].mean()
    assert energy[comping_only].sum(axis=1).mean() > 1e-5  # and the comping is not silent either


def test_folder_renders_every_file_and_one_bad_file_is_one_line(tmp_path, synth, capsys):
    comping, solo = two_hands()
    src = tmp_path / "in"
    write_midi(src / "a.mid", {"piano": comping + solo})  # one track: split at --split-pitch
    write_midi(src / "sub" / "b.mid", {"comping": comping})  # empty solo: comping alone
    (src / "broken.mid").write_bytes(b"not midi")
    assert main(["render", str(src), "-o", str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "a.opus").is_file() and (tmp_path / "out" / "sub" / "b.opus").is_file()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.mid" in err[0] and "Traceback" not in err[0]


def test_flac_by_suffix(tmp_path, synth):
    import soundfile as sf

    comping, solo = two_hands()
    midi = write_midi(tmp_path / "x.mid", {"comping": comping, "solo": solo})
    assert main(["render", str(midi), "-o", str(tmp_path / "x.flac")]) == 0
    assert sf.info(str(tmp_path / "x.flac")).format == "FLAC"


def test_without_synthesizer_one_line_saying_what_to_install(tmp_path):
    comping, solo = two_hands()
    midi = write_midi(tmp_path / "x.mid", {"comping": comping, "solo": solo})
    env = {**os.environ, "PATH": str(tmp_path)}  # no fluidsynth on PATH
    proc = subprocess.run([sys.executable, "-m", "jazz_solo", "render", str(midi)], capture_output=True, text=True, env=env)
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "apt-get install fluidsynth" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.opus").exists()


@pytest.mark.parametrize("args, needle", [
    (["missing.mid"], "missing.mid: no such file"),
    (["x.mid", "-o", "x.mp4"], "x.mp4: unsupported audio suffix"),
    (["x.mid", "--split-pitch", "200"], "--split-pitch 200"),
])
def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    write_midi(Path("x.mid"), {"solo": two_hands()[1]})
    assert main(["render", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_pan_is_equal_power():
    for pan in (-1.0, -0.5, 0.0, 0.5, 1.0):
        left, right = audio.pan_gains(pan)
        assert left**2 + right**2 == pytest.approx(1.0)
    assert audio.pan_gains(0.5)[1] > audio.pan_gains(0.5)[0]


def test_listen_page_without_synthesizer_says_what_to_install(tmp_path):
    from jazz_solo.listening import previews

    text = previews.page([], tmp_path / "listen.html", "cand", None).read_text()
    assert "Audio previews skipped" in text and audio.INSTALL_HINT.split(";")[0] in text and "<audio" not in text


def test_a_file_that_is_no_soundfont_is_one_line_not_a_silent_clip(tmp_path, synth, capsys):
    (tmp_path / "junk.sf2").write_bytes(b"junk")
    midi = write_midi(tmp_path / "x.mid", {"comping": two_hands()[0], "solo": two_hands()[1]})
    assert main(["render", str(midi), "--soundfont", str(tmp_path / "junk.sf2")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fluidsynth failed" in err and "junk.sf2" in err
    assert not (tmp_path / "x.opus").exists()
