"""Exposure records: counts per row and endpoint, the cap, redaction, and the saved form."""

from __future__ import annotations

import pandas as pd
import pytest

from mallm_gan.errors import BudgetExceededError, ConfigError
from mallm_gan.gan.exposure import ExposureLedger, redact_endpoint

ENDPOINT = "openai:gpt-4o at https://user:secret@api.example.com/v1?key=abc (remote; structured output: json)"


def chunk(*rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(r) for r in rows]}, index=list(rows))


def test_redaction_drops_credentials_query_and_details():
    assert redact_endpoint(ENDPOINT) == "openai:gpt-4o at https://api.example.com/v1"
    assert redact_endpoint("local llama.cpp model smollm2-135m (in-process)") == "local llama.cpp model smollm2-135m"


def test_counts_per_row_and_endpoint():
    ledger = ExposureLedger()
    ledger.admit(ENDPOINT, chunk(0, 1, 2))
    ledger.admit(ENDPOINT, chunk(1, 2))
    ledger.admit("local model (in-process)", chunk(2))
    summary = ledger.summary()
    assert summary["rows_sent"] == 3 and summary["max_row_exposure"] == 3
    remote = summary["endpoints"]["openai:gpt-4o at https://api.example.com/v1"]
    assert remote == {"prompts": 2, "rows_sent": 3, "row_appearances": 5, "max_row_exposure": 2}
    assert "secret" not in str(ledger.to_dict()) and "key=abc" not in str(ledger.to_dict())


def test_the_cap_leaves_rows_out_and_then_refuses():
    ledger = ExposureLedger(max_exposure=2)
    assert len(ledger.admit(ENDPOINT, chunk(0, 1))) == 2
    assert len(ledger.admit("other", chunk(0, 1))) == 2  # the cap counts every endpoint
    assert ledger.admit(ENDPOINT, chunk(0, 1, 5)).index.tolist() == [5]
    assert ledger.admit(ENDPOINT, chunk(0, 1)).empty
    assert ledger.summary()["max_row_exposure"] == 2
    error = ledger.refuse()
    assert isinstance(error, BudgetExceededError) and "max_exposure=2" in error.message


def test_saved_form_round_trips_with_a_new_cap():
    ledger = ExposureLedger(3)
    ledger.admit(ENDPOINT, chunk(4, 7))
    again = ExposureLedger.from_dict(ledger.to_dict(), 1)
    assert again.exposure(4) == 1 and again.max_exposure == 1
    assert again.admit(ENDPOINT, chunk(4, 8)).index.tolist() == [8]
    assert again.summary()["endpoints"]["openai:gpt-4o at https://api.example.com/v1"]["prompts"] == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_caps_are_refused_by_name(bad):
    with pytest.raises(ConfigError, match="max_exposure"):
        ExposureLedger(bad)
