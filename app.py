"""Hugging Face Space / local entry: load the shipped default pipeline and serve the Gradio studio.

Environment: ``MUSICLM_PIPELINE`` (a saved pipeline folder or Hub id; default: the one in
``assets/``), ``GRADIO_SERVER_NAME`` / ``HOST`` (default 127.0.0.1, or 0.0.0.0 on a Space),
``GRADIO_SERVER_PORT`` / ``PORT`` (default 7860), ``MUSICLM_DEVICE`` (e.g. cuda), and the
server's limits (``ui.gradio_app.ServeLimits``): ``MUSICLM_MAX_UPLOAD_MB``, ``MUSICLM_OUTPUT_TTL_S``,
``MUSICLM_MAX_OUTPUTS``, ``MUSICLM_QUEUE_SIZE``, ``MUSICLM_MAX_BATCH_SIZE``, ``MUSICLM_MAX_STORY_SEGMENTS``,
``MUSICLM_MIN_SEGMENT_S``.
The same limits are flags: ``python app.py --max-upload-mb 20 --output-ttl-s 3600 ...`` (``--help``).
"""

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from musiclm_studio.pipeline import MusicLMPipeline  # noqa: E402
from musiclm_studio.sampling_args import STORY_LIMITS_ENV  # noqa: E402
from musiclm_studio.ui.gradio_app import ServeLimits, launch  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the MusicLM Studio app (flags override MUSICLM_* variables).")
    d, story = ServeLimits(), {name: default for name, (_, default) in STORY_LIMITS_ENV.items()}
    parser.add_argument("--max-upload-mb", type=float, help=f"largest melody upload in MB (default {d.max_upload_mb:g})")
    parser.add_argument("--output-ttl-s", type=float, help=f"delete generated files after this many seconds ({d.output_ttl_s:g})")
    parser.add_argument("--max-outputs", type=int, help=f"keep at most this many generations' files ({d.max_outputs})")
    parser.add_argument("--queue-size", type=int, help=f"requests that may wait in the queue ({d.queue_size})")
    parser.add_argument("--max-batch-size", type=int, help=f"users' requests generated as one batch ({d.max_batch_size})")
    parser.add_argument("--no-batching", action="store_true", help="one request at a time (--max-batch-size 1)")
    parser.add_argument("--max-story-segments", type=int,
                        help=f"story mode: most segments ({story['max_story_segments']})")
    parser.add_argument("--min-segment-s", type=float,
                        help=f"story mode: shortest segment in seconds ({story['min_segment_s']:g})")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    for name, (env, _) in STORY_LIMITS_ENV.items():  # story limits are checked by the pipeline, read from env
        if getattr(args, name) is not None:
            os.environ[env] = str(getattr(args, name))
    limits = ServeLimits.from_env(max_upload_mb=args.max_upload_mb, output_ttl_s=args.output_ttl_s,
                                  max_outputs=args.max_outputs, queue_size=args.queue_size,
                                  max_batch_size=1 if args.no_batching else args.max_batch_size)
    on_space = bool(os.environ.get("SPACE_ID"))
    host = os.environ.get("GRADIO_SERVER_NAME") or os.environ.get("HOST") or ("0.0.0.0" if on_space else "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT") or 7860)
    pipe = MusicLMPipeline.from_pretrained(os.environ.get("MUSICLM_PIPELINE") or None,
                                           device=os.environ.get("MUSICLM_DEVICE") or None)
    launch(pipe, host=host, port=port, share=False, limits=limits)


if __name__ == "__main__":
    main()
