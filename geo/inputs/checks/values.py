"""Text and number columns, whatever type the file gave them (vectorised).

:func:`to_text` makes a pandas ``str`` column (stripped, empty as missing, ``7.0`` as
``'7'``); :func:`to_float` makes float64 and flags the values that are not numbers
(a decimal comma is accepted).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["to_float", "to_text"]


def to_text(values: pd.Series) -> pd.Series:
    """Text column (pandas ``str`` dtype): stripped, empty -> NaN, integral floats as '7'."""
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(object)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce")
        finite = num.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(dtype=float), 1) == 0):
            values = num.astype("Int64")
    s = values.astype("str")
    if _padded(s):
        s = s.str.strip()
    empty = s == ""
    return (s.mask(empty) if empty.any() else s).reset_index(drop=True)


#: Bytes a value may start or end with that ``str.strip`` could remove: ASCII whitespace
#: and the lead/continuation bytes of UTF-8 characters (Unicode spaces such as U+00A0).
_MAY_STRIP = np.zeros(256, dtype=bool)
_MAY_STRIP[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAY_STRIP[128:] = True


def _padded(values: pd.Series) -> bool:
    """Whether any value may start or end with whitespace (False: stripping changes nothing).

    Looks at the first and last byte of each value in the Arrow buffers: a few milliseconds
    for a million values, where stripping them costs tens.
    """
    try:
        chunks = pa.chunked_array(pa.array(values)).chunks
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return True
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        _, offsets_buf, data_buf = chunk.buffers()
        if data_buf is None:
            continue
        width: type[np.signedinteger[Any]] = (
            np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        )
        offsets = np.frombuffer(offsets_buf, dtype=width)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        data = np.frombuffer(data_buf, dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]  # nulls and "" have no bytes
        if (
            _MAY_STRIP[data[offsets[:-1][filled]]].any()
            or _MAY_STRIP[data[offsets[1:][filled] - 1]].any()
        ):
            return True
    return False


def to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a column that may hold text; return (float64 values, unparseable mask)."""
    n = len(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(n, np.nan), values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        ), np.zeros(n, dtype=bool)
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        out = _cast_float(values)  # plain numbers as text (a CSV column): as they are
        if out is not None:
            return out, np.zeros(n, dtype=bool)
    text = to_text(values)
    out = _cast_float(text)
    if out is not None:
        return out, np.zeros(n, dtype=bool)
    num = pd.to_numeric(text, errors="coerce")
    comma = num.isna() & text.str.fullmatch(r"[+-]?\d+,\d+").fillna(False).astype(bool)
    if comma.any():
        num[comma] = pd.to_numeric(text[comma].str.replace(",", ".", regex=False))
    bad = text.notna() & num.isna() & (text.str.lower() != "nan")
    return num.to_numpy(dtype=float, na_value=np.nan), bad.to_numpy(dtype=bool)


def _cast_float(text: pd.Series) -> np.ndarray | None:
    """float64 of text that is all plain numbers (or missing), else None."""
    try:
        out = pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return np.asarray(out, dtype=float)
