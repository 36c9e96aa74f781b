"""Reading user tables: delimiter sniffing, BOMs, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from .errors import ConfigError, SchemaError

_DELIMITERS = ",;\t|"


def read_table(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV (or TSV, ``;``- or ``|``-separated) file, with or without a UTF-8 BOM.

    Raises:
        ConfigError: the file does not exist or is not text.
        SchemaError: it has no header or no rows it could parse.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    if path.suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ConfigError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
    compression = "infer"
    try:
        if sep is None:
            sep = sniff_delimiter(path)
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig", compression=compression,
                            skipinitialspace=True)
    except UnicodeDecodeError:
        frame = pd.read_csv(path, sep=sep, encoding="latin-1", compression=compression, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise SchemaError(f"{path} is empty: no header and no rows") from exc
    except pd.errors.ParserError as exc:
        raise SchemaError(f"{path} could not be parsed as a table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a text table, judged from its first lines (comma when unsure)."""
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(64_000)
    else:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            head = handle.read(64_000)
    if not head.strip():
        raise SchemaError(f"{path} is empty: no header and no rows")
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = head.splitlines()[0]
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","
