"""Shared fixtures of the integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The cached SmolLM2-135M GGUF file (``MALLM_MODELS_DIR`` or the user cache), pulled once if absent.

    Skips, with the reason, when xllamacpp is not installed or the model can be neither found nor pulled.
    """
    pytest.importorskip("xllamacpp", reason="the real-model tests need xllamacpp: pip install 'mallm-gan[local]'")
    from mallm_gan.errors import ConfigError
    from mallm_gan.llm import model_pull, models

    path = models.model_path("smollm2-135m")
    if not path.is_file():
        try:
            path = model_pull.resolve_model("smollm2-135m")
        except ConfigError as exc:
            if os.environ.get("CI"):
                # in CI the real model is the suite's one contact with a language model: never skip it silently
                pytest.fail(f"smollm2-135m could not be pulled in CI: {exc.message}")
            pytest.skip(f"smollm2-135m is not cached and could not be pulled: {exc.message}")
    return path
