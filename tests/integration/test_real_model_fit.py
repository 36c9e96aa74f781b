"""fit + sample on asia (N=25, one epoch) with the real embedded model, SmolLM2-135M-Instruct.

This is the suite's contact with a real language model's habits (repeats, copies of examples, odd values):
whatever it writes, every returned row must obey the schema and none may copy a training record that occurs
once. It measures nothing about quality.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mallm_gan import MallmGan

pytestmark = [pytest.mark.real_llm, pytest.mark.timeout(240)]


def test_fit_and_sample_with_smollm2(smollm2_path: Path, shared_data: Path, tmp_path: Path) -> None:
    train = pd.read_csv(shared_data / "asia" / "splits" / "n25" / "train.csv")
    model = MallmGan(llm=f"local:{smollm2_path}", epochs=1, batch_size=25, random_state=0)
    model.fit(train, target="Dyspnea", run_dir=tmp_path / "run")
    assert len(model.history_) == 1
    assert "smollm2" in model.llm_name_.lower() or "SmolLM2" in model.llm_name_
    entry = model.history_.entries[0]
    assert entry.report["accepted"] >= 5 and entry.calls >= 5

    rows = model.sample(10)
    assert len(rows) == 10 and list(rows.columns) == list(train.columns)
    for column in model.schema_.columns:
        assert set(rows[column.name]) <= set(column.categories)
    counts = train.value_counts()
    unique = {tuple(k) for k, v in counts.items() if v == 1}
    assert not {tuple(r) for r in rows.itertuples(index=False)} & unique
    usage = model.sample_usage_.role("generator")
    assert usage.completion_tokens > 0
