"""The repeat window: where most people share their row, the generator lets the engine repeat a whole row."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pandas as pd
import pytest

from mallm_gan.gan.generator import Generator
from mallm_gan.gan.validation import RowValidator
from mallm_gan.llm.completion import Choice, Completion
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess

# 10 records: 8 share one of two rows, 2 are unique
SHARED = pd.DataFrame({"a": [0, 0, 0, 0, 1, 1, 1, 1, 0, 1], "b": [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]})
UNIQUE = pd.DataFrame({"age": [23, 35, 47, 51, 62, 29], "income": [1.5, 2.25, 3.0, 4.75, 5.5, 6.0]})


def test_copyable_share_follows_the_copy_policy() -> None:
    schema = TableSchema.from_dataframe(SHARED)
    assert RowValidator(schema, SHARED).copyable_share == pytest.approx(0.8)
    assert RowValidator(schema, SHARED, copy_k=5).copyable_share == 0.0
    assert RowValidator(schema, SHARED, copy_policy="never").copyable_share == 0.0
    assert RowValidator(schema, SHARED, copy_policy="allow").copyable_share == 1.0
    assert RowValidator(schema).copyable_share == 0.0  # no training rows, nothing to copy
    assert RowValidator(TableSchema.from_dataframe(UNIQUE), UNIQUE).copyable_share == 0.0


class _Recorder:
    schema_dialect = "portable"

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    async def complete(self, messages: Any, **options: Any) -> Completion:
        self.options.append(options)
        return Completion(choices=(Choice(json.dumps({"rows": []}), "stop"),), model="m")


def _window(frame: pd.DataFrame, **validator: Any) -> Any:
    schema = TableSchema.from_dataframe(frame)
    client = _Recorder()
    generator = Generator(client, schema)
    asyncio.run(generator._call(
        DataGenerationProcess(), frame.head(4), RowValidator(schema, frame, **validator), seed=1, n_rows=2,
        conditions_text=None, extra_instruction=None, constraints=None,
    ))
    return client.options[0]["repeat_window"]


def test_the_generator_asks_for_a_whole_row_window_only_where_copies_are_mostly_allowed() -> None:
    window = _window(SHARED)
    # longer, in tokens at two characters each, than the longest example row written as compact JSON
    assert window is not None and window > len("[0,0]") / 2
    assert _window(SHARED, copy_policy="never") is None
    assert _window(UNIQUE) is None
