"""The jam in Jupyter: ``Jam(pipe).display()`` or ``Studio(pipe).jam()``.

The same controls as the app's Jam tab (``ui/jam_controls.py``): Start runs the jam in a
background thread, paced like the app (at most ``AHEAD_CHUNKS`` chunks ahead of playback); each
chunk goes to an autoplaying Audio widget, and the token view and the status line (headroom,
underruns) follow. Moving a control sets it on the playing jam from its next chunk on (a bad
value shows its message; the jam plays on). The notebook's Audio widget restarts its player for
each chunk, so the browser may leave a few milliseconds between chunks: the chunks themselves join
sample-exactly, and ``recording()`` returns the last ``jam_controls.KEEP_S`` seconds joined.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Optional

import ipywidgets as W
import soundfile as sf
import torch

from .. import viz
from .jam_controls import AHEAD_CHUNKS, JAM_CONTROLS, LIVE, JamMonitor, jam_changes
from .widgets import _widget


class Jam:
    """An endless jam as ipywidgets for one loaded ``MusicLMPipeline``."""

    def __init__(self, pipe, prompt: str = "a funky groove with drums and slap bass"):
        self.pipe = pipe
        self.palettes = viz.token_palettes(pipe)
        self.controls = {name: _widget(control, pipe) for name, control in JAM_CONTROLS.items()}
        self.controls["prompt_1"].value = prompt
        self.start_button = W.Button(description="Start", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        for name, widget in self.controls.items():
            if hasattr(widget, "continuous_update"):
                widget.continuous_update = False  # a change on release / Enter, not on every keystroke
            if name.startswith(LIVE):
                widget.observe(lambda _: self.apply(), names="value")
        self.audio = W.Audio(format="wav", autoplay=True, loop=False)
        self.tokens = W.Image(format="png", layout=W.Layout(max_width="900px"))
        self.status, self.error = W.HTML("Press Start."), W.HTML()
        self.session, self.monitor = None, None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.widget = W.HBox([W.VBox(list(self.controls.values()) + [W.HBox([self.start_button, self.stop_button]),
                                                                        self.error], layout=W.Layout(width="45%")),
                              W.VBox([self.status, self.audio, self.tokens], layout=W.Layout(width="55%"))])

    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def start(self) -> bool:
        """Start a jam with the current controls (a playing one stops first); False when a control is bad."""
        self.stop()
        values = self.values()
        try:
            self.session = self.pipe.jam(**jam_changes(values), chunk_s=values["chunk_s"], seed=values["seed"])
        except ValueError as error:
            self.error.value = f"<b style='color:#c00'>{error}</b>"
            return False
        self.error.value = ""
        self.monitor = JamMonitor(self.pipe, self.session.chunk_s, self.palettes)
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, args=(self.session,), daemon=True)
        self._thread.start()
        return True

    def _play(self, session) -> None:
        try:
            while not self._stop.is_set():
                if self._stop.wait(self.monitor.player.wait_s(time.monotonic(), AHEAD_CHUNKS)):
                    break
                chunk = session.next_chunk()
                self.monitor.add(chunk, time.monotonic())
                buffer = io.BytesIO()
                sf.write(buffer, chunk.audio.clamp(-1, 1).numpy(), chunk.sample_rate, format="WAV", subtype="PCM_16")
                self.audio.value = buffer.getvalue()
                self.tokens.value = viz.array_to_png(self.monitor.token_image())
                self.status.value = self.monitor.status()
        except Exception as error:  # shown, not lost in a thread
            self.error.value = f"<b style='color:#c00'>The jam stopped: {error}</b>"
        finally:
            session.close()

    def apply(self) -> bool:
        """Set the live controls on the playing jam from its next chunk on; False when one is bad."""
        if self.session is None or self.session.closed:
            return False
        try:
            self.session.set(**jam_changes(self.values()))
        except ValueError as error:
            self.error.value = f"<b style='color:#c00'>Not applied (the jam plays on): {error}</b>"
            return False
        self.error.value = ""
        return True

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the jam and free it (waits for the chunk being made)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.monitor is not None:
            self.status.value = "Stopped. " + self.monitor.status()

    def recording(self) -> torch.Tensor:
        """The last ``jam_controls.KEEP_S`` seconds played, joined: audio [S] at ``pipe.sample_rate``."""
        return self.monitor.recording() if self.monitor is not None else torch.zeros(0)

    def display(self) -> W.Widget:
        from IPython.display import display

        display(self.widget)
        return self.widget

    def _ipython_display_(self) -> None:
        self.display()
