"""The error classes as callers use them: standard bases, retryability by class, counts as fields."""

from __future__ import annotations

import pytest

from mallm_gan import MallmGan
from mallm_gan.cli.app import EXIT_CODES, exit_code
from mallm_gan.errors import (
    BudgetExceededError,
    ConfigError,
    GenerationError,
    LLMAuthError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMServerError,
    LLMTransportError,
    MallmGanError,
    NotFittedError,
    RunLockedError,
    SchemaError,
)


def test_config_error_is_a_value_error_and_not_fitted_an_attribute_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    # scikit-learn's idiom: hasattr on a fitted attribute of an unfitted model is False, not a crash
    with pytest.raises(AttributeError):
        MallmGan().sample(1)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (LLMTransportError("down"), True),
        (LLMRateLimitError("slow down", status=429), True),
        (LLMProviderError("oops", status=503), True),
        (LLMProviderError("no status"), True),
        (LLMProviderError("bad request", status=400), False),
        (LLMAuthError("bad key", status=401), False),
    ],
)
def test_retryability_follows_the_class(error: LLMError, transient: bool) -> None:
    assert error.transient is type(error).transient is transient
    assert isinstance(error, LLMServerError) is (isinstance(error, LLMProviderError) and transient)


def test_attempts_are_a_field_and_the_message_is_kept() -> None:
    error = LLMTransportError("no answer from http://h/v1", endpoint="http://h/v1")
    error.attempts = 3
    assert error.message == "no answer from http://h/v1"
    assert error.fields["attempts"] == 3 and error.attempts == 3
    assert str(error) == "no answer from http://h/v1 (gave up after 3 attempts)"
    permanent = LLMAuthError("bad key", status=401, attempts=1)
    assert str(permanent) == "bad key"  # a permanent error was not given up on: it was never retried


def test_exit_codes_belong_to_the_cli() -> None:
    assert not any(hasattr(cls, "exit_code") for cls in (MallmGanError, ConfigError, LLMError))
    assert exit_code(ConfigError("x")) == exit_code(NotFittedError) == 2
    assert exit_code(SchemaError("x")) == 3
    assert exit_code(LLMAuthError("x", status=401)) == exit_code(LLMServerError) == 5
    assert exit_code(BudgetExceededError) == 6 and exit_code(GenerationError) == 7
    assert exit_code(RunLockedError("x")) == 8
    assert exit_code(MallmGanError("x")) == 1
    assert len({code for _, code in EXIT_CODES}) == len(EXIT_CODES) - 1  # only ConfigError/NotFitted share
