"""MIDI -> audio previews: FluidSynth renders each role with a General MIDI piano, numpy pans
comping left and solo right, soundfile encodes Opus in Ogg.

Why these: FluidSynth is the maintained SoundFont renderer every Linux distribution packages
(no model, no network), and a GM SoundFont comes from the same package manager; rendering the
two roles separately gives exact, equal-power panning and a level for each. Opus (48 kHz stereo,
about 48 kbit/s) keeps a 30-s clip near 200 kB, so a report of a dozen clips stays a few MB
(FLAC would be tens of MB); Chrome, Firefox, Edge and Safari >= 17 play it in an <audio> tag.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.midi_io import MidiError, load_tracks, split_roles, write_midi
from ..data.tokens import Note

SAMPLE_RATE = 48_000  # Opus only encodes 8/12/16/24/48 kHz
INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm (or timgm6mb-soundfont); see `make audio-deps`"
# Preferred first: FluidR3 has the better piano, TimGM6mb is small (CI), default-GM is Debian's alternative.
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
# Equal-power pan positions (-1 left .. 1 right) and levels (dB, of each stem's sounding RMS) per
# role; other tracks play centred at 0 dB. Levelling stems makes the balance the same whatever the
# SoundFont (FluidR3's low register is far louder than TimGM6mb's) and keeps the solo in front.
PANS = {"comping": -0.5, "solo": 0.5}
LEVELS_DB = {"comping": -4.0, "solo": 0.0}
OPUS_KBPS = 48  # stereo piano is clean at 48 kbit/s; the report may go lower to fit a page
FORMATS = {  # suffix -> (soundfile format, subtype, compression level; None for .opus: from kbit/s)
    ".opus": ("OGG", "OPUS", None),
    ".ogg": ("OGG", "VORBIS", 0.6),
    ".flac": ("FLAC", "PCM_16", None),
    ".wav": ("WAV", "PCM_16", None),
}


class SynthMissing(RuntimeError):
    """No FluidSynth binary or no SoundFont: the message says what to install."""


@dataclass(frozen=True)
class Synth:
    binary: str
    soundfont: Path

    def describe(self) -> str:
        return f"fluidsynth + {self.soundfont.name}"


def find_synth(soundfont: str | Path | None = None) -> Synth | None:
    """FluidSynth on PATH and a GM SoundFont (``soundfont``, else $JAZZ_SOLO_SOUNDFONT, else the
    first of :data:`SOUNDFONTS` that exists); None when either is missing."""
    binary = shutil.which("fluidsynth")
    wanted = soundfont or os.environ.get("JAZZ_SOLO_SOUNDFONT")
    candidates = [Path(wanted)] if wanted else [Path(p) for p in SOUNDFONTS]
    font = next((p.resolve() for p in candidates if p.is_file()), None)
    return Synth(binary, font) if binary and font else None


def require_synth(soundfont: str | Path | None = None) -> Synth:
    synth = find_synth(soundfont)
    if synth is None:
        what = f"SoundFont {soundfont}" if soundfont and shutil.which("fluidsynth") else "a synthesizer"
        raise SynthMissing(f"no audio: {what} not found; install: {INSTALL_HINT}")
    return synth


def synth_status() -> str:
    """One word for Snakemake params: changes (and so reruns the previews) when a synth appears."""
    synth = find_synth()
    return synth.describe() if synth else "none"


def _render_stem(synth: Synth, notes: Sequence[Note], frames: int, workdir: Path, name: str) -> np.ndarray:
    """Mono float32 of ``notes`` on a GM piano, exactly ``frames`` long (zeros if no notes)."""
    if not notes:
        return np.zeros(frames, dtype=np.float32)
    import soundfile as sf

    midi, wav = workdir / f"{name}.mid", workdir / f"{name}.wav"
    write_midi(midi, {name: notes})
    cmd = [synth.binary, "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-O", "float", "-T", "wav",
           "-F", str(wav), str(synth.soundfont), str(midi)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + frames / SAMPLE_RATE)
    # fluidsynth exits 0 when it rejects the SoundFont (then plays its default font, or silence).
    errors = [line.strip() for line in proc.stderr.splitlines() if "error" in line.lower()]
    if proc.returncode != 0 or errors or not wav.is_file():
        reason = errors or (proc.stderr or proc.stdout).strip().splitlines() or [f"exit {proc.returncode}"]
        raise RuntimeError(f"fluidsynth failed with {synth.soundfont} ({reason[0]})")
    data, _ = sf.read(wav, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)  # the stem's own stereo image is replaced by its pan position
    if not np.any(mono):
        raise RuntimeError(f"fluidsynth rendered silence with {synth.soundfont}")
    out = np.zeros(frames, dtype=np.float32)
    out[: min(frames, len(mono))] = mono[:frames]
    return out


def sounding_rms(x: np.ndarray, frame: int = SAMPLE_RATE // 20) -> float:
    """RMS over the 50-ms frames that sound (within 40 dB of the loudest), so rests don't count."""
    n = len(x) // frame
    if n == 0:
        return 0.0
    power = (x[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    sounding = power[power > power.max() * 1e-4]
    return float(np.sqrt(sounding.mean())) if sounding.size else 0.0


def pan_gains(pan: float) -> tuple[float, float]:
    """Equal-power (left, right) gains for a position in [-1, 1]."""
    theta = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4
    return float(np.cos(theta)), float(np.sin(theta))


def clip_frames(tracks: Mapping[str, Sequence[Note]]) -> int:
    """Audio length: the last note's end plus a release tail of 5 % (at most 1 s), so the clip
    stays within a few per cent of the MIDI's length."""
    end = max((n.end for notes in tracks.values() for n in notes), default=0.0)
    return int(round((end + min(1.0, 0.05 * end)) * SAMPLE_RATE))


def mix(synth: Synth, tracks: Mapping[str, Sequence[Note]]) -> np.ndarray:
    """Stereo float32 (frames, 2): every track rendered, levelled and panned by role, the sum
    peak-normalised to -1 dBFS."""
    frames = clip_frames(tracks)
    if frames == 0:
        raise ValueError("nothing to render (no notes)")
    out = np.zeros((frames, 2), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="jazz-solo-audio-") as tmp:
        for i, (name, notes) in enumerate(tracks.items()):
            stem = _render_stem(synth, notes, frames, Path(tmp), f"stem{i}")
            left, right = pan_gains(PANS.get(name, 0.0))
            rms = sounding_rms(stem)
            gain = 10 ** (LEVELS_DB.get(name, 0.0) / 20) / rms if rms > 0 else 0.0
            out[:, 0] += stem * left * gain
            out[:, 1] += stem * right * gain
    fade = min(frames, int(0.05 * SAMPLE_RATE))  # no click where the tail is cut
    out[frames - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    peak = float(np.abs(out).max())
    return out * (0.89 / peak) if peak > 0 else out


def opus_level(kbps: float) -> float:
    """libsndfile's compression level for a stereo Opus bitrate (it maps level 0..1 linearly onto
    512..12 kbit/s for two channels; measured: 16 -> 16.6, 48 -> 47.4 kbit/s)."""
    return float(np.clip(1.0 - (kbps - 12.0) / 500.0, 0.0, 1.0))


def encode(audio: np.ndarray, out: str | Path, kbps: float = OPUS_KBPS) -> Path:
    """Write stereo float audio; the format follows the suffix (.opus at ``kbps``, .ogg, .flac, .wav)."""
    import soundfile as sf

    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: unsupported audio suffix (use one of {', '.join(FORMATS)})")
    fmt, subtype, level = FORMATS[out.suffix.lower()]
    out.parent.mkdir(parents=True, exist_ok=True)
    if subtype == "OPUS":
        level = opus_level(kbps)
    kwargs = {"compression_level": level} if level is not None else {}
    sf.write(out, audio, SAMPLE_RATE, format=fmt, subtype=subtype, **kwargs)
    return out


def roles_of(path: str | Path, split_pitch: int) -> dict[str, list[Note]]:
    """{"comping": ..., "solo": ...}: the tracks of those names, else the notes split at ``split_pitch``."""
    tracks = {name.lower(): notes for name, notes in load_tracks(path).items()}
    if not tracks:
        raise MidiError(f"{path}: no pitched notes to render")
    if "solo" in tracks or "comping" in tracks:
        return {"comping": tracks.get("comping", []), "solo": tracks.get("solo", [])}
    cond, lead = split_roles(sorted((n for ns in tracks.values() for n in ns), key=lambda n: n.start), split_pitch)
    return {"comping": cond, "solo": lead}


def render(midi: str | Path, out: str | Path, synth: Synth, split_pitch: int) -> Path:
    """One MIDI file -> one audio file (comping left, solo right)."""
    return encode(mix(synth, roles_of(midi, split_pitch)), out)


def render_notes(tracks: Mapping[str, Sequence[Note]], out: str | Path, synth: Synth, kbps: float = OPUS_KBPS) -> Path:
    """Notes per role (e.g. a real right hand over its comping) -> one audio file."""
    return encode(mix(synth, tracks), out, kbps)
