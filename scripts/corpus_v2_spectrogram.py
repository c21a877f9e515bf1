"""Side-by-side mel spectrograms of one song rendered by corpus v1 and by corpus v2.

    python scripts/corpus_v2_spectrogram.py --seed 7 --index 8 --seconds 10 --out docs/img/corpus_v1_v2.png

The song (attributes, notes) is the same: v1 plays it through FluidR3 with the hand-rolled reverb;
v2 through the clip's planned sources, humanised, with pedalboard production and pyloudnorm mastering.
"""

import argparse

import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from musiclm_studio.data.attributes import sample_attributes  # noqa: E402
from musiclm_studio.data.composer import compose  # noqa: E402
from musiclm_studio.data.render_v2 import plan_sound, render_song_v2  # noqa: E402
from musiclm_studio.data.renderer import render_song  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--index", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default="docs/img/corpus_v1_v2.png")
    args = parser.parse_args()
    attrs = sample_attributes(args.seed, args.index)
    v1 = render_song(compose(attrs, args.seconds))
    song = compose(sample_attributes(args.seed, args.index), args.seconds)
    plan = plan_sound(song)
    v2, _ = render_song_v2(song, plan)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for ax, audio, title in ((axes[0], v1.mix, "v1: FluidR3, hand-rolled reverb"),
                             (axes[1], v2.mix, "v2: " + ", ".join(sorted(set(plan.sources.values())))[:60])):
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=v1.sample_rate, n_mels=80), ref=1.0)
        ax.imshow(mel, origin="lower", aspect="auto", vmin=-80, vmax=mel.max(),
                  extent=(0, len(audio) / v1.sample_rate, 0, 80), cmap="magma")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("mel bin")
    fig.suptitle(f"{attrs.genre}, {attrs.bpm} bpm (seed {args.seed}, clip {args.index})", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=72)
    print(f"wrote {args.out}: v2 sources {plan.sources}")


if __name__ == "__main__":
    main()
