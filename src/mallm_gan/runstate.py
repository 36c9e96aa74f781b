"""The run directory: its file names, atomic JSON files, data fingerprints, JSON-ready records.

Every module that reads or writes a file of a run directory takes the file's name from here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError, MallmGanError

FORMAT_VERSION = 2  # 2: one fixed real holdout scores every θ; a run of format 1 cannot be resumed
# -- the files of a run directory ----------------------------------------------------------------------
MODEL = "model.json"  # the fitted model: schema, θ, history, parameters, training rows (written at the end)
CHECKPOINT = "checkpoint.json"  # the same state after the last finished iteration, while a fit runs
CACHE = "llm-cache.sqlite"  # finished LLM answers by request hash, so a resumed run never pays twice
REPORT = "report.html"  # the HTML report of `mallm-gan report`
EVALUATION = "evaluation.json"  # an EvaluationReport.to_dict(), read by the report
SAMPLE_REPORT = "sample_report.json"  # the final sampling's RejectionReport.to_dict(), read by the report
DEMO = "demo.json"  # what `mallm-gan demo` ran on (dataset, true DAG), read by the report
RUN_FILES = (MODEL, CHECKPOINT, CACHE, REPORT, EVALUATION, SAMPLE_REPORT, DEMO)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` so that a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1, default=json_default))


def read_json(
    path: str | Path, *, what: str = "", missing_hint: str = "", error: type[MallmGanError] = ConfigError
) -> Any:
    """The JSON value in the file ``path``.

    Raises:
        ``error`` (ConfigError by default): the file does not exist (message ends with ``missing_hint``) or
            is not valid JSON. Messages name the file as ``"{what} {path}"``.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise error(f"{label} does not exist{missing_hint}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{label} is not valid JSON ({exc}); it may have been edited by hand") from exc


def json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: missing -> None, numpy scalars -> Python, dates -> ISO strings."""
    out = []
    for row in frame.astype(object).itertuples(index=False, name=None):
        record = {}
        for name, value in zip(frame.columns, row, strict=True):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                record[name] = None
            elif isinstance(value, pd.Timestamp):
                record[name] = value.isoformat()
            else:
                record[name] = json_default(value) if isinstance(value, np.generic) else value
        out.append(record)
    return out


def fingerprint(frame: pd.DataFrame) -> str:
    """Hash of the data's values and column names, to tell whether a run dir belongs to this data."""
    text = json.dumps([list(frame.columns), to_records(frame)], default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
