#!/usr/bin/env bash
# Recipe 15 (docs/training.md) end to end on one machine, in one go: the wider-world data, MuLan
# trained whole, token caches with it, the semantic and coarse LMs on all three corpora, the
# assembled candidate, and the measurements that decide whether it ships. Every step is skipped
# when its output is complete, and every trainer resumes from its own `last`, so a run that was
# stopped picks up where it was.
#
#   nohup bash scripts/recipe15.sh WORK_DIR > WORK_DIR/recipe15.log 2>&1 &
#
# Session 37 ran it end to end on a 2-core Xeon with the corpora and MuLan already made: token caches 44 min,
# semantic LM 13 min, coarse LM 22 min, the measurements 27 min (1 h 42 min; the four MuLan evaluations, about
# 20 min more, were copied from identical runs). A MuLan and its judge add about 30 min each, the corpora a few
# hours. Nothing else may run beside it: two torch jobs on 2 cores more than halve each other's speed. The
# shortened settings (no 2-s-crop LM stages) are session 20's, chosen to fit one session.
set -euo pipefail
WORK=${1:?usage: bash scripts/recipe15.sh WORK_DIR}
REPO=$(cd "$(dirname "$0")/.." && pwd)
M="$REPO/.venv/bin/musiclm-studio"
PY="$REPO/.venv/bin/python"
A="$REPO/assets/musiclm-small"
STEPS_MULAN=${STEPS_MULAN:-1000}
STEPS_SEM=${STEPS_SEM:-1200}
STEPS_COARSE=${STEPS_COARSE:-1000}
mkdir -p "$WORK" && cd "$WORK"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
step() { echo "=== $(date +%T) $*"; /usr/bin/time -f "=== wall %e s" "$@"; }
done_when() { [ -e "$1" ] && echo "=== done before: $1"; }
# an LM run is done when its last logged step reached the steps asked (a run stopped early, or asked for
# more steps than it ran, resumes from its last/)
lm_done() { [ -e "$1/last/config.json" ] && [ "$(tail -1 "$1/metrics.jsonl" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["step"])')" -ge "$2" ] && echo "=== done before: $1 ($2 steps)"; }

(cd "$REPO" && make recordings-deps)
# data (each build resumes and is deterministic from its seed)
step "$M" corpus build --out corpus/v1 --clips 1000 --seconds 10 --seed 0 --workers 2 --stems
step "$M" corpus build --version 2 --out corpus/v2 --clips 3000 --seconds 10 --seed 0 --workers 2 --stems
done_when corpus/recordings/metadata.jsonl || step "$M" corpus recordings --out corpus/recordings --workers 2
step "$M" corpus build --version 2 --heldout-only --out corpus/heldout-v2 --clips 1000 --seed 7 --workers 2
step "$M" corpus build --out corpus/v1-seed1 --clips 1000 --seconds 10 --seed 1 --workers 2
# MuLan whole on the three, then the token caches with it (from member 0 of the shipped MuLan ensemble: the
# MuLan shipped in sessions 38-46)
done_when runs/mulan-whole/last/config.json || step "$M" train mulan --data corpus/v2,corpus/v1,corpus/recordings \
    --out runs/mulan-whole --init-from "$A" --init-member 0 --steps "$STEPS_MULAN" --batch-size 64 --lr 3e-4 --warmup 50 \
    --caption-variants 0 --v2-variants 2 --key-branch --musicnn MTT+MSD --seed 1
for c in v2 v1 recordings; do
  done_when "tokens/$c/valid.safetensors" || step "$M" train tokens --pipeline "$A" --mulan runs/mulan-whole \
      --data "corpus/$c" --out "tokens/$c"
done
# the judge: the same MuLan from another seed (the shipped one is seed 1, its judge seed 0), which neither pipeline uses, reads MCC, FAD and lead family for both
# (each pipeline's own MuLan would judge itself; the shipped one hears the held-out world's lead family at chance)
if ! done_when runs/mulan-judge/last/config.json; then
  mkdir -p runs/mulan-judge && cp -n runs/mulan-whole/*_features.safetensors runs/mulan-whole/musicnn_segments.safetensors \
      runs/mulan-judge/ 2>/dev/null || true  # its cached text and tagger features: the same clips and texts
  step "$M" train mulan --data corpus/v2,corpus/v1,corpus/recordings --out runs/mulan-judge --init-from "$A" --init-member 0 \
      --steps "$STEPS_MULAN" --batch-size 64 --lr 3e-4 --warmup 50 --caption-variants 0 --v2-variants 2 --key-branch \
      --musicnn MTT+MSD --seed 0
fi
T=tokens/v2,tokens/v1,tokens/recordings; C=corpus/v2,corpus/v1,corpus/recordings
# (since session 47 the shipped LMs read the MuLan ensemble's 256-d code vectors: from runs/mulan-whole's
# 128-d tokens their two MuLan input layers start afresh, the rest from the shipped weights)
lm_done runs/sem "$STEPS_SEM" || step "$M" train semantic-lm --tokens $T --data $C --beat --key --unstated 0.25 \
    --condition-dropout mulan=0.4 --init-from "$A" --out runs/sem --steps "$STEPS_SEM" --lr 3e-4 --warmup 30 --dropout 0.1
lm_done runs/coarse "$STEPS_COARSE" || step "$M" train coarse-lm --tokens $T --data $C --beat --key --unstated 0.25 \
    --condition-dropout mulan=0.3 --init-from "$A" --out runs/coarse --steps "$STEPS_COARSE" --lr 3e-4 --warmup 30
done_when runs/cand-v2/pipeline.json || step "$M" assemble --base "$A" --out runs/cand-v2 \
    --component mulan=runs/mulan-whole --component semantic_lm=runs/sem/last --component coarse_lm=runs/coarse/last \
    --dtype float16
# the new MuLan under the shipped LMs, which read its code vectors through a linear map onto the shipped MuLan's
# space (fitted on 300 train clips and their captions of each corpus; session 38: this is the one that shipped)
done_when runs/cand-map/pipeline.json || step "$M" assemble --base "$A" --out runs/cand-map \
    --component mulan=runs/mulan-whole --map-mulan "$C" --dtype float16
# the measurements: the candidate next to the shipped model, on the same sets (each skipped when its report exists)
for who in shipped cand map; do
  case $who in shipped) P="$A"; MU="$A";; cand) P=runs/cand-v2; MU=runs/mulan-whole;; map) P=runs/cand-map;; esac
  if [ $who != map ]; then  # the map candidate's MuLan is the candidate's: cand's MuLan evaluations are its
    done_when "eval/$who-mulan-ho/mulan_eval.json" || step "$M" mulan eval --mulan "$MU" --data corpus/heldout-v2 --split all --n 1000 --no-musiccaps --out "eval/$who-mulan-ho"
    done_when "eval/$who-mulan-v1/mulan_eval.json" || step "$M" mulan eval --mulan "$MU" --data corpus/v1-seed1 --split all --n 1000 --no-musiccaps --out "eval/$who-mulan-v1"
  fi
  done_when "eval/$who-heldout/eval.json" || step "$M" eval --pipeline "$P" --prompts corpus:corpus/heldout-v2 --split heldout --limit 40 --baselines 0 \
      --melodies 1 --long-prompts 0 --judge runs/mulan-judge --out "eval/$who-heldout"
  done_when "eval/$who-v1/eval.json" || step "$M" eval --pipeline "$P" --prompts corpus:corpus/v1-seed1 --split test --limit 40 --baselines 0 \
      --melodies 1 --long-prompts 0 --judge runs/mulan-judge --out "eval/$who-v1"
  done_when "eval/$who-key.json" || step "$PY" "$REPO/scripts/key_prompts.py" --pipeline "$P" --n 100 --no-before --json "eval/$who-key.json"
  done_when "eval/$who-continuation.json" || step "$PY" "$REPO/scripts/real_continuation.py" --pipeline "$P" --data corpus/recordings --split test --clips 24 \
      --json "eval/$who-continuation.json"
done
echo "=== RECIPE 15 DONE $(date +%T)"
