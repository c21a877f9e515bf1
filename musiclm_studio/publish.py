"""Publishing to the Hugging Face Hub: the Space (the app and the shipped model) and a saved pipeline.

    musiclm-studio hub push-space --repo USER/NAME [--dry-run] [--gpu] [--model USER/MODEL]
    musiclm-studio hub push-model --pipeline DIR --repo USER/NAME [--dry-run] [--dataset ID ...]

Each command first builds an upload plan: every file, its size, and whether it goes through LFS
(Xet storage on the Hub today), which it does when the project's root ``.gitattributes`` tracks it
(that file, in the Hub's own form, is uploaded too). The plan refuses, before anything is sent, what
the Hub refuses (``HUB_RULES``): a plain git file over 10 MB, a binary file outside LFS, an LFS
file over the per-file limit, a folder of over 10k entries; and a Git LFS pointer where a file
should be (a clone without git-lfs, once weights are stored in LFS). ``--dry-run`` prints the plan
and stops. A push copies the files into a temporary folder and sends it with ``HfApi.create_repo``
and ``HfApi.upload_folder``: the Hub gets the files, never this repository's history, and
huggingface_hub sends the LFS ones through LFS / Xet by itself, whatever the local git state (no
git-lfs, weights stored as plain git blobs). A ``git push`` of this repository to a Space would be
refused: its history holds weights over 10 MB as plain blobs.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field

from . import hub

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The Hub's limits (huggingface/hub-docs, docs/hub/storage-limits.md, repositories-getting-started.md,
# spaces-github-actions.md; its pre-receive hook refuses binary files outside LFS). "10 MB" is read
# as 10**7 bytes, the stricter of its two readings.
PLAIN_FILE_MAX = 10 * 1000**2
LFS_FILE_MAX = 500 * 1000**3
FOLDER_ENTRIES_MAX = 10_000
COMMIT_FILES_RECOMMENDED = 100
HUB_RULES = ("plain git files: text, at most 10 MB; binary or larger files: LFS / Xet, at most 500 GB a file "
             "(under 200 GB recommended); at most 10k entries a folder; under 100 files a commit recommended "
             "(upload_folder splits larger uploads into several commits)")
# What a Space runs: the app, the package, the shipped pipeline (+ the README's screenshot), the
# requirements, the README (its front matter configures the Space) and the LFS rules. Tests,
# notebooks, scripts, the Makefile and pyproject.toml stay out; runs/, .venv and caches are never walked.
SPACE_FILES = ("README.md", "app.py", "requirements.txt", ".gitattributes")
SPACE_FOLDERS = ("musiclm_studio", "assets")
SPACE_LEFT_OUT = ("assets/musicnn/",)  # weights only training reads (a MuLan with that branch holds its own copy)
SPACE_FRONT_MATTER = ("sdk", "sdk_version", "python_version", "app_file")
SKIPPED = ("__pycache__/", "*.pyc", "*.egg-info/", ".ipynb_checkpoints/", ".DS_Store", ".gitattributes", ".gitignore")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The model card's metadata block (https://huggingface.co/docs/hub/model-cards); keys the card
# already sets win, tags are merged.
LIBRARY_NAME = "musiclm-studio"
MODEL_TAGS = ("musiclm", "music-generation", "text-to-music", "audio")


@dataclass
class PlannedFile:
    path: str                     # path in the Hub repo (posix)
    size: int                     # bytes
    lfs: bool                     # tracked by the uploaded .gitattributes: sent through LFS / Xet
    source: str | None = None     # the local file, or None for generated ``content``
    content: bytes | None = None
    refused: str = ""             # why the Hub would refuse it ("" = it accepts it)


@dataclass
class UploadPlan:
    repo_id: str
    repo_type: str                # "space" or "model"
    files: list[PlannedFile]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # refusals that are not about one file

    @property
    def refusals(self) -> list[str]:
        return [f"{f.path}: {f.refused}" for f in self.files if f.refused] + self.problems

    def render(self) -> str:
        lfs = [f for f in self.files if f.lfs]
        total, in_lfs = sum(f.size for f in self.files), sum(f.size for f in lfs)
        lines = [f"{self.repo_type} {self.repo_id}: {len(self.files)} files, {_size(total)} "
                 f"({len(lfs)} through LFS / Xet, {_size(in_lfs)}; {_size(total - in_lfs)} as plain git files)",
                 f"{'size':>10}  {'LFS':3}  path"]
        for f in self.files:
            refused = f"   <- REFUSED: {f.refused}" if f.refused else ""
            lines.append(f"{_size(f.size):>10}  {'yes' if f.lfs else '-':3}  {f.path}{refused}")
        lines.append(f"Hub rules: {HUB_RULES}")
        lines += [f"note: {note}" for note in self.notes] + [f"REFUSED: {problem}" for problem in self.problems]
        verdict = f"{len(self.refusals)} refused" if self.refusals else "nothing the Hub would refuse"
        lines.append(f"check: {verdict}")
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def lfs_rules(gitattributes: str):
    """The patterns a .gitattributes text sends through LFS (``filter=lfs``), as a git-style matcher."""
    import pathspec

    patterns = [line.split()[0] for line in gitattributes.splitlines()
                if line.strip() and not line.lstrip().startswith("#") and "filter=lfs" in line.split()[1:]]
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def refusal(head: bytes, size: int, lfs: bool) -> str:
    """Why the Hub would refuse a file of this size whose content starts with ``head`` ("" = accepted)."""
    if hub.is_lfs_pointer(head, size):
        return "a Git LFS pointer, not the file: run `git lfs pull` in the checkout first"
    if lfs:
        return f"over the Hub's {_size(LFS_FILE_MAX)} limit for one file" if size > LFS_FILE_MAX else ""
    if size > PLAIN_FILE_MAX:
        return "over 10 MB outside LFS: track it in .gitattributes (a filter=lfs line) or leave it out"
    if b"\0" in head:
        return "binary outside LFS: track it in .gitattributes (a filter=lfs line) or leave it out"
    return ""


def _planned(path: str, rules, source: str | None = None, content: bytes | None = None) -> PlannedFile:
    if source is not None:
        with open(source, "rb") as f:
            head = f.read(8000)  # git's own binary test reads this much
        size = os.path.getsize(source)
    else:
        head, size = content[:8000], len(content)
    lfs = rules.match_file(path)
    return PlannedFile(path, size, lfs, source, content, refusal(head, size, lfs))


def _walk(folder: str, prefix: str = "") -> list[tuple[str, str]]:
    """(path in the repo, local path) of every file below ``folder`` but caches and git's own files."""
    import pathspec

    skipped = pathspec.GitIgnoreSpec.from_lines(SKIPPED)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = os.path.relpath(dirpath, folder).replace(os.sep, "/")
        for name in sorted(filenames):
            path = name if rel == "." else f"{rel}/{name}"
            if not skipped.match_file(path):
                found.append((posixpath.join(prefix, path) if prefix else path, os.path.join(dirpath, name)))
    return found


def _crowded_folders(files: list[PlannedFile]) -> list[str]:
    entries: dict[str, set[str]] = {}
    for f in files:
        parts = f.path.split("/")
        for depth in range(len(parts)):
            entries.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
    return [f"folder {name or '.'!r} has {len(e)} entries, over the Hub's {FOLDER_ENTRIES_MAX}"
            for name, e in entries.items() if len(e) > FOLDER_ENTRIES_MAX]


def _repo_id(text: str, flag: str = "--repo") -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as error:
        raise ValueError(f"{flag} {text!r} is not a Hub repo id: {error}") from error
    if text.count("/") != 1:
        raise ValueError(f"{flag} {text!r}: give USER/NAME (your user or organisation, then the repo's name).")
    return text


def _project_root(root: str | None) -> str:
    root = os.path.abspath(root or PROJECT_ROOT)
    missing = [name for name in SPACE_FILES if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise ValueError(f"{root} is not a MusicLM Studio checkout (no {', '.join(missing)}): "
                         "run from a clone of the project, or pass --root with its folder.")
    return root


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _plan(repo_id: str, repo_type: str, files: list[PlannedFile]) -> UploadPlan:
    plan = UploadPlan(repo_id, repo_type, sorted(files, key=lambda f: f.path))
    plan.problems += _crowded_folders(plan.files)
    if len(plan.files) > COMMIT_FILES_RECOMMENDED:
        plan.notes.append(f"{len(plan.files)} files: over the Hub's {COMMIT_FILES_RECOMMENDED}-files-a-commit "
                          "recommendation; upload_folder splits the upload into several commits itself")
    return plan


def space_plan(repo_id: str, root: str | None = None, gpu: bool = False, model: str | None = None) -> UploadPlan:
    """The files a Space needs, from the project checkout at ``root`` (default: this package's)."""
    from huggingface_hub import SpaceCard

    root, repo_id = _project_root(root), _repo_id(repo_id)
    rules = lfs_rules(_read(os.path.join(root, ".gitattributes")))
    card = SpaceCard(_read(os.path.join(root, "README.md")))
    requirements = _read(os.path.join(root, "requirements.txt"))
    generated = {}
    if model:
        card.data.models = [_repo_id(model, "--model")]
        generated["README.md"] = str(card).encode()
    if gpu:
        kept = [line for line in requirements.splitlines(keepends=True) if CPU_INDEX not in line]
        if len(kept) == len(requirements.splitlines()):
            raise ValueError(f"requirements.txt names no {CPU_INDEX} line; --gpu has nothing to drop.")
        generated["requirements.txt"] = "".join(kept).encode()
    files = [_planned(name, rules, content=generated[name]) if name in generated
             else _planned(name, rules, source=os.path.join(root, name)) for name in SPACE_FILES]
    for folder in SPACE_FOLDERS:
        files += [_planned(path, rules, source=source) for path, source in _walk(os.path.join(root, folder), folder)
                  if not path.startswith(SPACE_LEFT_OUT)]
    plan = _plan(repo_id, "space", files)
    missing = [key for key in SPACE_FRONT_MATTER if card.data.get(key) is None]
    if missing:
        plan.problems.append(f"README.md front matter lacks {', '.join(missing)} (the Space's configuration)")
    if not any(f.path == posixpath.join("assets", "musiclm-small", "pipeline.json") for f in plan.files):
        plan.problems.append("assets/musiclm-small/pipeline.json is missing: the Space would have no model")
    plan.notes.append("requirements.txt: " + ("PyPI's torch, the CUDA build, for GPU hardware" if gpu else
                                              "torch's CPU build (PyTorch's CPU index); --gpu for GPU hardware"))
    plan.notes.append(f"README.md front matter: models: {card.data.models}" if card.data.get("models") else
                      "README.md front matter: no models: entry (publish the weights with push-model, then "
                      "push the Space again with --model USER/NAME)")
    return plan


def model_card(card_text: str, license: str | None, datasets: list[str] | tuple = ()) -> str:
    """The pipeline's own card with the Hub's metadata block prefixed (or merged into its own)."""
    from huggingface_hub import ModelCard

    card = ModelCard(card_text if card_text.startswith("---") else "---\n{}\n---\n" + card_text)
    ours = dict(library_name=LIBRARY_NAME, license=license, pipeline_tag="text-to-audio", language=["en"],
                datasets=list(datasets) or None)
    for key, value in ours.items():
        if value is not None and card.data.get(key) is None:
            card.data[key] = value
    card.data.tags = list(dict.fromkeys([*(card.data.get("tags") or []), *MODEL_TAGS]))
    return str(card)


def model_plan(repo_id: str, pipeline: str, datasets: list[str] | tuple = (), root: str | None = None) -> UploadPlan:
    """A saved pipeline folder as a model repo: its files, its card with the metadata block, the LFS rules."""
    from huggingface_hub import SpaceCard

    root, repo_id = _project_root(root), _repo_id(repo_id)
    datasets = [_repo_id(name, "--dataset") for name in datasets]
    if not os.path.isfile(os.path.join(pipeline, "pipeline.json")):
        raise ValueError(f"{pipeline!r} has no pipeline.json; pass a folder saved with save_pretrained().")
    if not os.path.isfile(os.path.join(pipeline, "README.md")):
        raise ValueError(f"{pipeline!r} has no README.md model card; write one (assets/musiclm-small/README.md "
                         "is the shipped model's) before publishing.")
    gitattributes = os.path.join(root, ".gitattributes")
    rules = lfs_rules(_read(gitattributes))
    license = SpaceCard(_read(os.path.join(root, "README.md"))).data.get("license")
    card = model_card(_read(os.path.join(pipeline, "README.md")), license, datasets)
    files = [_planned(path, rules, source=source) for path, source in _walk(pipeline) if path != "README.md"]
    files += [_planned("README.md", rules, content=card.encode()), _planned(".gitattributes", rules, source=gitattributes)]
    plan = _plan(repo_id, "model", files)
    untrained = hub.read_json(os.path.join(pipeline, "pipeline.json")).get("untrained") or []
    if untrained:
        plan.notes.append(f"untrained components (their model cards should say so): {', '.join(untrained)}")
    plan.notes.append(f"model card: library_name {LIBRARY_NAME}, license {license}, pipeline_tag text-to-audio, "
                      f"datasets {datasets or 'none (the corpus is procedural; --dataset USER/NAME once published)'}")
    return plan


def push(plan: UploadPlan, token: str | None = None) -> str:
    """Create the repo (if needed) and upload the plan's files in one upload_folder call; returns its URL."""
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    if plan.refusals:
        raise ValueError(f"{len(plan.refusals)} file(s) the Hub would refuse; nothing was sent.")
    if constants.HF_HUB_OFFLINE:
        raise ValueError("HF_HUB_OFFLINE is set (the Makefile and the tests set it): unset it to publish.")
    token = token or get_token()
    if not token:
        raise ValueError("No Hugging Face token: run `hf auth login` or set HF_TOKEN to a token with write access.")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="musiclm-hub-") as staging:
        for f in plan.files:
            target = os.path.join(staging, *f.path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if f.source is not None:
                shutil.copyfile(f.source, target)
            else:
                with open(target, "wb") as out:
                    out.write(f.content)
        try:
            url = api.create_repo(plan.repo_id, repo_type=plan.repo_type, exist_ok=True,
                                  space_sdk="gradio" if plan.repo_type == "space" else None)
            api.upload_folder(repo_id=plan.repo_id, repo_type=plan.repo_type, folder_path=staging,
                              commit_message=f"Upload with musiclm-studio hub push-{plan.repo_type}")
        except HfHubHTTPError as error:
            detail = str(error).splitlines()[0][:300]
            raise ValueError(f"The Hub refused the push ({detail}); check that the token may write to "
                             f"{plan.repo_id}.") from error
        except Exception as error:  # noqa: BLE001 - no network, DNS, TLS, timeouts: one clear line, no traceback
            raise ValueError(f"Could not reach the Hugging Face Hub ({type(error).__name__}: "
                             f"{str(error)[:200]}); check the network and retry.") from error
    return str(url)


def _publish(plan: UploadPlan, dry_run: bool) -> int:
    print(plan.render())
    if plan.refusals:
        raise ValueError(f"{len(plan.refusals)} file(s) the Hub would refuse (listed above); nothing was sent.")
    if dry_run:
        print("dry run: nothing was sent.")
        return 0
    print(f"pushed to {push(plan)}")
    return 0


def cmd_push_space(args: argparse.Namespace) -> int:
    return _publish(space_plan(args.repo, root=args.root, gpu=args.gpu, model=args.model), args.dry_run)


def cmd_push_model(args: argparse.Namespace) -> int:
    return _publish(model_plan(args.repo, args.pipeline, datasets=args.dataset or (), root=args.root), args.dry_run)


def register(sub) -> None:
    """The ``hub`` command group: push-space and push-model."""
    group = sub.add_parser("hub", help="publish the Space, or a saved pipeline as a model, to the Hugging Face Hub")
    commands = group.add_subparsers(dest="hub_command", required=True)
    space = commands.add_parser("push-space", help="upload the app, the package and the shipped model as a Space")
    model = commands.add_parser("push-model", help="upload a saved pipeline folder as a model repo, with its card")
    model.add_argument("--pipeline", required=True, help="a folder saved with save_pretrained() that has a README.md")
    for parser in (space, model):
        parser.add_argument("--repo", required=True, metavar="USER/NAME", help="the Hub repo (created if absent)")
        parser.add_argument("--dry-run", action="store_true",
                            help="list every file, its size and whether it goes through LFS; check the Hub's rules; "
                                 "send nothing")
        parser.add_argument("--root", default=None, help="the project checkout (default: the one this package is in)")
    space.add_argument("--gpu", action="store_true", help="upload requirements.txt without the CPU index (CUDA torch)")
    space.add_argument("--model", default=None, metavar="USER/NAME",
                       help="the published model repo, named in the Space's front matter (models:)")
    model.add_argument("--dataset", action="append", metavar="USER/NAME", help="a Hub dataset it was trained on")
    space.set_defaults(func=cmd_push_space)
    model.set_defaults(func=cmd_push_model)
