"""Hugging Face Space / local entry: load the shipped default pipeline and serve the Gradio studio.

Environment: ``MUSICLM_PIPELINE`` (a saved pipeline folder or Hub id; default: the one in
``assets/``), ``GRADIO_SERVER_NAME`` / ``HOST`` (default 127.0.0.1, or 0.0.0.0 on a Space),
``GRADIO_SERVER_PORT`` / ``PORT`` (default 7860), ``MUSICLM_DEVICE`` (e.g. cuda).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from musiclm_studio.pipeline import MusicLMPipeline  # noqa: E402
from musiclm_studio.ui.gradio_app import launch  # noqa: E402


def main() -> None:
    on_space = bool(os.environ.get("SPACE_ID"))
    host = os.environ.get("GRADIO_SERVER_NAME") or os.environ.get("HOST") or ("0.0.0.0" if on_space else "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT") or 7860)
    pipe = MusicLMPipeline.from_pretrained(os.environ.get("MUSICLM_PIPELINE") or None,
                                           device=os.environ.get("MUSICLM_DEVICE") or None)
    launch(pipe, host=host, port=port, share=False)


if __name__ == "__main__":
    main()
