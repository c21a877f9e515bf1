"""Join trained MuLans into one (``musiclm-studio mulan ensemble``).

Two MuLans trained differently rank held-out clips differently, and the mean of their cosines ranks them
better than either (docs/experiments/wider_world.md, session 46). ``MuLanEnsemble`` joins their unit
embeddings; this fits the joined space's RVQ by residual k-means on the members' embeddings of corpus
clips and of their captions (the RVQ tokenizes both: clips for the token caches, prompts at
generation), and picks the descriptor weights of ``MuLan.similarity`` on the first corpus's valid split
as ``train mulan`` does. The LMs read an ensemble's tokens through a map
(``assemble --component mulan=ENSEMBLE --map-mulan CORPUS``) or after training on its token caches.
"""

from __future__ import annotations

import time

import torch

from ..config import MuLanConfig
from ..models.mulan import MuLanEnsemble


@torch.no_grad()
def make_ensemble(members: list[str], corpora: list[str], clips: int = 600, seed: int = 0,
                  log=print) -> tuple[MuLanEnsemble, dict]:
    """The MuLans at ``members`` (pipelines, component or run folders) joined, with the RVQ fitted on the
    first ``clips`` train clips of each corpus and their captions. Returns it and a report: each member's
    and the ensemble's text -> audio retrieval on the first corpus's valid split, and the fit's size."""
    from ..components import load_trained
    from ..eval.mulan import embed_clips, embed_texts, recall_from_scores
    from ..models.descriptors import choose_weights, read_audio, read_texts
    from .data import load_split

    if len(members) < 2:
        raise ValueError("Name two or more MuLans to join (--members A,B).")
    if not corpora:
        raise ValueError("Name the corpora to fit the ensemble's RVQ on (--data CORPUS[,CORPUS]).")
    start = time.perf_counter()
    loaded = [load_trained("mulan", path) for path in members]
    first = loaded[0].config
    config = MuLanConfig(text_model=first.text_model, text_dim=first.text_dim, text_max_tokens=first.text_max_tokens,
                         embed_dim=sum(m.config.embed_dim for m in loaded), sample_rate=first.sample_rate,
                         window_s=first.window_s, stride_s=first.stride_s, num_quantizers=first.num_quantizers,
                         codebook_size=first.codebook_size, members=[m.config for m in loaded])
    model = MuLanEnsemble(config).eval()
    for member, trained in zip(model.members, loaded):
        result = member.load_state_dict(trained.state_dict(), strict=False)
        if result.missing_keys:
            raise ValueError(f"A member lacks weights the ensemble needs: {result.missing_keys[:5]}")
    del loaded
    views = []
    for corpus in corpora:
        rows, audio = load_split(corpus, "train", config.sample_rate, limit=clips)
        if not rows:
            raise ValueError(f"{corpus} has no train split to fit the ensemble's RVQ on: name a corpus folder "
                             "(musiclm-studio corpus build).")
        views += [embed_clips(model, audio), embed_texts(model, [r["caption"] for r in rows])]
        log(f"embedded {len(rows)} clips and captions of {corpus}")
    generator = torch.Generator().manual_seed(seed)
    model.quantizer.fit(torch.cat(views).float(), generator=generator)
    report = {"fit_vectors": int(sum(len(v) for v in views))}
    rows, audio = load_split(corpora[0], "valid", config.sample_rate, limit=clips)
    if rows:
        captions = [r["caption"] for r in rows]
        text, sound = embed_texts(model, captions), embed_clips(model, audio)
        width = [m.config.embed_dim for m in model.members]
        cosines = [t @ a.T * len(width) for t, a in zip(text.split(width, -1), sound.split(width, -1))]
        report["valid_clips"] = len(rows)
        report["valid_R@10"] = {**{f"member {i}": recall_from_scores(c)["R@10"] for i, c in enumerate(cosines)},
                                "ensemble": recall_from_scores(text @ sound.T)["R@10"]}
        weights, measures = choose_weights(text @ sound.T, read_texts(captions), read_audio(audio, config.sample_rate))
        config.descriptor_key, config.descriptor_tempo = weights.key, weights.tempo
        report["descriptor_weights"] = {"key": weights.key, "tempo": weights.tempo, **measures}
    report["seconds"] = round(time.perf_counter() - start, 1)
    return model, report
