"""Convert the musicnn taggers' TensorFlow checkpoints into ``assets/musicnn/{MTT,MSD}.safetensors``.

The ``musicnn`` wheel (ISC licence, Music Technology Group, UPF) holds the checkpoints; reading them
needs TensorFlow, which nothing else here uses, so run this once in a scratch environment:

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.15.1 torch==2.13.0 safetensors numpy librosa
    /tmp/tf/bin/pip install --no-deps musicnn==0.1.0
    PYTHONPATH=. /tmp/tf/bin/python scripts/convert_musicnn.py

It checks that our torch network (``musiclm_studio/models/musicnn.py``) gives TensorFlow's tags on
random patches before it writes anything.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from safetensors.torch import save_file

from musiclm_studio.models.musicnn import ASSETS, PATCH, N_MELS, Musicnn, from_tensorflow


def tensorflow_reference(prefix: str, model: str, patches: np.ndarray) -> np.ndarray:
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    x = tf.compat.v1.placeholder(tf.float32, [None, PATCH, N_MELS])
    training = tf.compat.v1.placeholder(tf.bool)
    logits = models.define_model(x, training, model, 50)[0]
    with tf.compat.v1.Session() as session:
        tf.compat.v1.train.Saver().restore(session, prefix)
        return session.run(logits, {x: patches, training: False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=ASSETS)
    args = parser.parse_args()
    import tensorflow as tf
    from musicnn import models

    os.makedirs(args.out, exist_ok=True)
    patches = np.random.default_rng(0).uniform(0, 3, (4, PATCH, N_MELS)).astype(np.float32)
    for name in ("MTT", "MSD"):
        prefix = os.path.join(os.path.dirname(models.__file__), f"{name}_musicnn", "")
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        variables = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
        state = from_tensorflow(variables)
        ours = Musicnn()
        ours.load_state_dict(state)
        with torch.no_grad():
            logits = ours.head(ours.pool(ours.frames(torch.from_numpy(patches))))[0].numpy()
        gap = float(np.abs(logits - tensorflow_reference(prefix, f"{name}_musicnn", patches)).max())
        if gap > 1e-3:
            raise SystemExit(f"{name}: our network's logits differ from TensorFlow's by {gap:.2g}; nothing written.")
        save_file(state, os.path.join(args.out, f"{name}.safetensors"), metadata={"source": f"musicnn 0.1.0 {name}_musicnn"})
        print(f"{name}: logits within {gap:.1e} of TensorFlow's; wrote {args.out}/{name}.safetensors")


if __name__ == "__main__":
    main()
