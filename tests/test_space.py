"""The Hugging Face Space and the Hub: app.py served as a Space serves it, the publishing dry runs
(every file, its size, LFS or not, refusals), their failures without a token or a network, and
loading a pipeline by Hub id from a local mirror of the Hub's cache (offline)."""

import os
import shutil
import subprocess
import sys
import urllib.request

import gradio
import pytest
from huggingface_hub import ModelCard, SpaceCard

from conftest import ROOT, free_port, stop_app
from musiclm_studio import hub, publish
from musiclm_studio.cli import main

PIPELINE = hub.DEFAULT_PIPELINE


def _cli(*args, **env):
    """``musiclm-studio`` in a child process with ``env`` changes (None removes a variable)."""
    child = {k: v for k, v in os.environ.items() if k not in env}
    child.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, "-m", "musiclm_studio.cli", *args], cwd=ROOT, env=child,
                          capture_output=True, text=True, timeout=300)


def test_app_serves_as_a_space_does(serve_app):
    psutil = pytest.importorskip("psutil")
    url, process = serve_app("PORT", SPACE_ID="someone/musiclm-studio")  # a Space gives its port in PORT
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.Process(process.pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"0.0.0.0"}  # every interface, as a Space's proxy needs
    page = urllib.request.urlopen(url, timeout=30)
    assert page.status == 200 and "<html" in page.read(4096).decode("utf-8", "replace").lower()
    stop_app(process)
    assert process.poll() is not None


def test_front_matter_and_requirements_match_what_the_tests_run():
    data = SpaceCard.load(os.path.join(ROOT, "README.md")).data
    assert (data.sdk, data.app_file, data.sdk_version) == ("gradio", "app.py", gradio.__version__)
    assert str(data.python_version).startswith("3.") and data.get("models") is None  # no weights published yet
    requirements = open(os.path.join(ROOT, "requirements.txt")).read().splitlines()
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "torch==2.13.0" in requirements and "TORCH  ?= torch==2.13.0" in makefile
    assert "-r requirements.txt" not in makefile  # make studio / make test install from pyproject.toml, offline


def test_space_dry_run_lists_every_file_with_its_size_and_lfs(capsys):
    assert main(["hub", "push-space", "--repo", "someone/musiclm-studio", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    plan = publish.space_plan("someone/musiclm-studio")
    expected = set(publish.SPACE_FILES)
    for folder in publish.SPACE_FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            expected |= {os.path.relpath(os.path.join(dirpath, n), ROOT) for n in names
                         if "__pycache__" not in dirpath and n != ".gitattributes"}
    expected = {path for path in expected if not path.startswith(publish.SPACE_LEFT_OUT)}
    # the musicnn taggers only train a MuLan: they stay out of the Space
    assert os.path.isfile(os.path.join(ROOT, "assets", "musicnn", "MTT.safetensors"))
    assert not any(f.path.startswith("assets/musicnn/") for f in plan.files)
    assert {f.path for f in plan.files} == expected and not plan.refusals
    weights = [f for f in plan.files if f.path.endswith(".safetensors")]
    shipped = hub.read_json(os.path.join(PIPELINE, "pipeline.json"))["components"]
    assert len(weights) == len(shipped) - 1 and all(f.lfs for f in weights)  # all but the melody tokenizer's
    assert all(f.lfs for f in plan.files if f.size > publish.PLAIN_FILE_MAX)
    assert not any(f.path.startswith(("tests/", "notebooks/", "scripts/", "runs/")) for f in plan.files)
    for f in plan.files:  # one line per file: size, LFS, path
        assert f"{publish._size(f.size):>10}  {'yes' if f.lfs else '-':3}  {f.path}\n" in printed
    assert "check: nothing the Hub would refuse" in printed and "dry run: nothing was sent." in printed


def test_space_flags_swap_torch_build_and_name_the_model():
    plan = publish.space_plan("someone/musiclm-studio", gpu=True, model="someone/musiclm-small")
    files = {f.path: f for f in plan.files}
    requirements = files["requirements.txt"].content.decode()
    assert "download.pytorch.org/whl/cpu" not in requirements and "torch==2.13.0" in requirements.splitlines()
    card = SpaceCard(files["README.md"].content.decode())
    assert card.data.models == ["someone/musiclm-small"] and card.data.sdk_version == gradio.__version__
    assert card.text == SpaceCard.load(os.path.join(ROOT, "README.md")).text
    with pytest.raises(ValueError, match="USER/NAME"):
        publish.space_plan("musiclm-studio")


def test_model_dry_run_writes_the_card_with_the_hub_metadata(capsys):
    assert main(["hub", "push-model", "--pipeline", PIPELINE, "--repo", "someone/musiclm-small", "--dry-run",
                 "--dataset", "someone/corpus-v1"]) == 0
    assert "check: nothing the Hub would refuse" in capsys.readouterr().out
    plan = publish.model_plan("someone/musiclm-small", PIPELINE, datasets=["someone/corpus-v1"])
    files = {f.path: f for f in plan.files}
    assert set(files) == {os.path.relpath(os.path.join(d, n), PIPELINE) for d, _, names in os.walk(PIPELINE)
                          for n in names} | {".gitattributes"}
    card = ModelCard(files["README.md"].content.decode())
    assert card.data.library_name == "musiclm-studio" and card.data.license == "apache-2.0"
    assert card.data.pipeline_tag == "text-to-audio" and card.data.datasets == ["someone/corpus-v1"]
    assert "musiclm" in card.data.tags
    own = ModelCard(open(os.path.join(PIPELINE, "README.md")).read())
    assert card.text.strip() == own.text.strip()  # the card itself, unchanged (its own metadata block merged)
    assert card.data.language == own.data.language and set(own.data.tags) <= set(card.data.tags)
    assert all(files[f"{c}/model.safetensors"].lfs for c in ("codec", "mulan", "semantic_lm", "coarse_lm", "fine_lm"))
    # a card that already has a metadata block keeps its own keys; the tags merge
    merged = ModelCard(publish.model_card("---\nlicense: mit\ntags:\n- mine\n---\n# Card\n", "apache-2.0"))
    assert merged.data.license == "mit" and merged.data.tags[0] == "mine" and "musiclm" in merged.data.tags


def test_dry_runs_refuse_what_the_hub_would_refuse(tmp_path):
    pipeline = tmp_path / "pipeline"
    pipeline.mkdir()
    shutil.copy(os.path.join(PIPELINE, "pipeline.json"), pipeline)
    (pipeline / "README.md").write_text("# Model card: test\n")
    (pipeline / "notes.txt").write_text("a" * (publish.PLAIN_FILE_MAX + 1))   # text, over 10 MB, not in LFS
    (pipeline / "tokens.bin").write_bytes(b"\0\1" * 100)                         # binary, not in LFS
    (pipeline / "codec").mkdir()
    (pipeline / "codec" / "model.safetensors").write_bytes(hub.LFS_POINTER + b"\noid sha256:0\nsize 1\n")
    with open(pipeline / "big.safetensors", "wb") as f:                         # over 10 MB, in LFS: accepted
        f.truncate(publish.PLAIN_FILE_MAX + 1)
    result = _cli("hub", "push-model", "--pipeline", str(pipeline), "--repo", "someone/test", "--dry-run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: 3 file(s) the Hub would refuse" in result.stderr
    refused = {line.split("<-")[0].split()[-1] for line in result.stdout.splitlines() if "<- REFUSED" in line}
    assert refused == {"notes.txt", "tokens.bin", "codec/model.safetensors"}
    assert "over 10 MB outside LFS" in result.stdout and "Git LFS pointer" in result.stdout
    # the Space: an oversize plain file under assets/ in a copy of the project
    root = tmp_path / "project"
    for name in publish.SPACE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(ROOT, name), root / name)
    shutil.copytree(PIPELINE, root / "assets" / "musiclm-small", ignore=shutil.ignore_patterns("*.safetensors"))
    (root / "musiclm_studio").mkdir()
    (root / "assets" / "corpus.jsonl").write_text("{}\n" * (publish.PLAIN_FILE_MAX // 3 + 1))
    plan = publish.space_plan("someone/test", root=str(root))
    assert [r.split(":")[0] for r in plan.refusals] == ["assets/corpus.jsonl"]
    with pytest.raises(ValueError, match="would refuse"):
        publish.push(plan)


def test_push_stages_the_plan_and_sends_it_with_upload_folder(monkeypatch):
    """The push path up to the network: huggingface_hub's two calls, with what they would send."""
    import huggingface_hub

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return f"https://huggingface.co/spaces/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, repo_type, **kwargs):
        calls["upload_folder"] = {os.path.relpath(os.path.join(d, n), folder_path).replace(os.sep, "/"):
                                  open(os.path.join(d, n), "rb").read() for d, _, names in os.walk(folder_path)
                                  for n in names}

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    plan = publish.space_plan("someone/musiclm-studio", model="someone/musiclm-small")
    assert publish.push(plan, token="hf_test") == "https://huggingface.co/spaces/someone/musiclm-studio"
    repo_id, kwargs = calls["create_repo"]
    assert repo_id == "someone/musiclm-studio" and kwargs["repo_type"] == "space" and kwargs["space_sdk"] == "gradio"
    sent = calls["upload_folder"]
    assert set(sent) == {f.path for f in plan.files}
    for f in plan.files:
        assert sent[f.path] == (f.content if f.source is None else open(f.source, "rb").read()), f.path
    assert b"models:\n- someone/musiclm-small" in sent["README.md"]


def test_push_without_token_or_network_says_so(tmp_path):
    args = ("hub", "push-space", "--repo", "someone/musiclm-studio")
    offline = _cli(*args, HF_HUB_OFFLINE="1")
    assert offline.returncode == 2 and "error: HF_HUB_OFFLINE is set" in offline.stderr
    no_token = _cli(*args, HF_HUB_OFFLINE="0", HF_TOKEN=None, HUGGING_FACE_HUB_TOKEN=None, HF_TOKEN_PATH=None,
                    HF_HOME=str(tmp_path / "hf"))
    assert no_token.returncode == 2 and "error: No Hugging Face token" in no_token.stderr
    # a token, but no Hub: a closed loopback port stands for the network
    unreachable = _cli(*args, HF_HUB_OFFLINE="0", HF_TOKEN="hf_test", HF_HOME=str(tmp_path / "hf"),
                       HF_ENDPOINT=f"http://127.0.0.1:{free_port()}")  # bound and released: nothing listens
    assert unreachable.returncode == 2 and "error: Could not reach the Hugging Face Hub" in unreachable.stderr
    assert all("Traceback" not in r.stderr for r in (offline, no_token, unreachable))


def test_from_pretrained_loads_a_hub_id_from_a_mirror_of_the_hub_cache(tmp_path):
    """The files push-model publishes, laid out as huggingface_hub caches a download
    (models--USER--NAME/refs/main + snapshots/<rev>/...), load by Hub id offline."""
    revision = "0" * 40
    repo = tmp_path / "hub" / "models--someone--musiclm-small"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    for f in publish.model_plan("someone/musiclm-small", PIPELINE).files:
        target = repo / "snapshots" / revision / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.source is not None:
            target.symlink_to(f.source)
        else:
            target.write_bytes(f.content)
    code = f"""
import torch
from safetensors.torch import load_file
from musiclm_studio import MusicLMPipeline, hub
pipe = MusicLMPipeline.from_pretrained("someone/musiclm-small")
assert pipe.folder.startswith({str(tmp_path)!r}), pipe.folder
shipped = load_file({os.path.join(PIPELINE, "codec", "model.safetensors")!r})
own = pipe.components.codec.state_dict()
assert all(torch.equal(own[k].to(v.dtype), v) for k, v in shipped.items())
out = pipe("a calm piano piece", duration_s=1.0, seed=0, num_candidates=1)
assert out.audio.shape == (24000,) and out.audio.abs().max() > 1e-3
try:
    hub.resolve_pretrained("someone/absent")
except ValueError as error:
    assert "Could not fetch" in str(error)
else:
    raise AssertionError("an id missing from the cache loaded offline")
print("ok")
"""
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_an_lfs_pointer_in_place_of_weights_says_what_to_do(tmp_path):
    folder = tmp_path / "codec"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(hub.LFS_POINTER + b"\noid sha256:0\nsize 23179888\n")
    with pytest.raises(ValueError, match="git lfs pull"):
        hub.load_state(str(folder), None)
