"""Reading user tables: delimiter sniffing, BOMs, decimal commas, placeholders for missing numbers, clear errors.

What a spreadsheet export looks like varies: ``;`` as separator with ``1,5`` as decimal (European locales), a
UTF-8 BOM, Latin-1 text, ``"?"`` or ``unknown`` where a number is missing. :func:`read_table` reads all of
these into the table the user meant. What it cannot read unambiguously (a duplicated column name, a ragged
row) is refused with a :class:`~mallm_gan.errors.SchemaError` naming the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, SchemaError

log = logging.getLogger(__name__)

_DELIMITERS = ",;\t|"
_HEAD_CHARS = 64_000
# written where a number is missing; read as missing only in a column whose other values are all numbers
PLACEHOLDERS = frozenset({"?", "-", "--", ".", "na", "n/a", "nan", "null", "none", "missing", "unknown"})
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+|[+-]?\d+")


def read_table(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV (or TSV, ``;``- or ``|``-separated) file, with or without a UTF-8 BOM.

    Beyond what :func:`pandas.read_csv` does: the separator is detected, a column written with decimal
    commas in a file not separated by commas is read as numbers, placeholders such as ``?`` or
    ``unknown`` in an otherwise numeric column are read as missing values (logged), and spaces around
    column names and before values are dropped.

    Raises:
        ConfigError: the file does not exist or cannot be read.
        SchemaError: it is empty, has a duplicated column name, or rows that do not fit the header.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    if path.suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ConfigError(f"reading {path} needs pyarrow: pip install pyarrow") from exc
    head, encoding = _head(path)
    if not head.strip():
        raise SchemaError(f"{path} is empty: no header and no rows")
    if sep is None:
        sep = sniff_delimiter(path, head=head)
    _check_header(path, head, sep)
    try:
        frame = pd.read_csv(path, sep=sep, encoding=encoding, compression="infer", skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise SchemaError(f"{path} is empty: no header and no rows") from exc
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())
        raise SchemaError(
            f"{path} could not be parsed as a table ({detail}); check the separator and quoting of that line"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for name in frame.columns:
        frame[name] = _repair_column(frame[name], name, decimal_comma=sep != ",")
    return frame


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding)  # type: ignore[return-value]
    return path.open(encoding=encoding)


def _head(path: Path) -> tuple[str, str]:
    """The first characters of the file and the encoding that reads it (UTF-8, else Latin-1)."""
    try:
        with _open_text(path, "utf-8-sig") as handle:
            head = handle.read(_HEAD_CHARS)
            handle.read()  # a bad byte further down must choose the fallback too
        return head, "utf-8-sig"
    except UnicodeDecodeError:
        pass
    except (OSError, EOFError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    with _open_text(path, "latin-1") as handle:
        return handle.read(_HEAD_CHARS), "latin-1"


def _check_header(path: Path, head: str, sep: str) -> None:
    """Refuse duplicated column names (pandas would silently rename the second one to ``NAME.1``)."""
    if len(sep) != 1:  # a regular expression separator: leave the header to pandas
        return
    try:
        header = next(csv.reader(io.StringIO(head), delimiter=sep, skipinitialspace=True), [])
    except csv.Error:
        return  # pandas reports a malformed file better
    seen: set[str] = set()
    for raw in header:
        name = raw.strip()
        if name and name in seen:
            raise SchemaError(
                f"column name {name!r} appears more than once in the header of {path}; give every column its own name",
                column=name,
            )
        seen.add(name)


def _repair_column(values: pd.Series, name: str, *, decimal_comma: bool) -> pd.Series:
    """Numbers stored as text: decimal commas, padding, and placeholders standing for missing values."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    present = values.dropna()
    if present.empty or not all(isinstance(v, str) for v in present):
        return values
    text = present.str.strip()
    placeholder = text.str.casefold().isin(PLACEHOLDERS) | (text == "")
    candidates = text[~placeholder]
    if candidates.empty:
        return values
    if (
        decimal_comma
        and candidates.str.contains(",", regex=False).any()
        and candidates.map(lambda v: _DECIMAL_COMMA.fullmatch(v) is not None).all()
    ):
        candidates = candidates.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(candidates, errors="coerce")
    if numbers.isna().any():
        return values  # a text column (or a truly mixed one): keep it as the user wrote it
    if placeholder.any():
        seen = sorted(set(text[placeholder]))
        log.warning("column %r: %d placeholder value(s) %s read as missing", name, int(placeholder.sum()), seen)
    out = pd.Series(float("nan"), index=values.index, dtype="float64")
    out[numbers.index] = numbers.astype("float64")
    if (out.dropna() % 1 == 0).all() and not out.isna().any():
        return out.astype("int64")
    return out


def sniff_delimiter(path: Path, *, head: str | None = None) -> str:
    """The delimiter of a text table, judged from its first lines (comma when unsure)."""
    if head is None:
        head = _head(Path(path))[0]
    if not head.strip():
        raise SchemaError(f"{path} is empty: no header and no rows")
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = head.splitlines()[0]
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","
