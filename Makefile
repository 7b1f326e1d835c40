# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU machines/CI get the local CPU wheel; on a GPU pod the same pin resolves to the CUDA build.
TORCH_SPEC ?= torch==2.13.0
CORES ?= all

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

.PHONY: setup demo test test-all lint audio-deps
setup: $(VENV)/.installed
	@command -v fluidsynth >/dev/null || echo "note: no FluidSynth, so audio previews will be skipped; \`make audio-deps\` installs it"

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html

test: setup
	$(VENV)/bin/python -m pytest -m "not slow" -q

test-all: setup
	$(VENV)/bin/python -m pytest -q

# Seconds, not minutes (CI runs it before the tests): the workflow linter, ruff (pyproject.toml
# [tool.ruff]) on every Python file, snakefmt --check on the rules ([tool.snakefmt]).
lint: setup
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakefmt --check rules Snakefile

# Audio previews (report section "4. Listen", `python -m jazz_solo render`): FluidSynth and a General MIDI
# SoundFont from Debian/Ubuntu packages (FluidR3 has the better piano; CI uses the 6 MB timgm6mb-soundfont).
# Elsewhere: `brew install fluid-synth` (or conda-forge fluidsynth) and JAZZ_SOLO_SOUNDFONT=/path/to/any-GM.sf2.
AUDIO_PACKAGES ?= fluidsynth fluid-soundfont-gm
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
audio-deps:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(AUDIO_PACKAGES)
