"""Compile librosa's numba kernels (``cache=True``) that the tests use into one cache, once, before
the test workers start (``make test`` runs it beside the installs): each worker then starts from a copy
(tests/conftest.py) instead of compiling them again, and no two processes ever write one cache
(numba/numba#10128).

    NUMBA_CACHE_DIR=.pytest_cache/numba/seed python tests/numba_seed.py
"""

import librosa
import numpy as np

from musiclm_studio.analysis import compile_analysers

SR = 24_000

compile_analysers(SR)  # beat tracking, onsets, key (constant-Q chroma), HPSS
t = np.arange(SR) / SR
tone = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
librosa.pyin(tone, fmin=80.0, fmax=800.0, sr=SR)  # the melody tracker: Viterbi, local minima
librosa.effects.time_stretch(tone, rate=1.25)  # the phase vocoder: phasors
librosa.istft(librosa.stft(tone))  # overlap-add, the window sum
