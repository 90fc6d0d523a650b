"""Row validation of the landing-file source: problems of whole typed rows, whatever the file
format. An empty primary key, cursor or required column, a date outside the plausible years, a
value outside its enum, the same key and cursor twice with different contents: each is one
``BadRow`` (quarantined, or the error under ``on_bad_row: fail``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.extracts import Extract
from ingestion.landing_files.settings import PLAUSIBLE_YEARS
from ingestion.quarantine import BadRow


def _plausible_bounds(data_type: pa.DataType) -> tuple[pa.Scalar, pa.Scalar]:
    low = dt.date(PLAUSIBLE_YEARS[0], 1, 1)
    high = dt.date(PLAUSIBLE_YEARS[1] + 1, 1, 1)
    if pa.types.is_date(data_type):
        return pa.scalar(low, data_type), pa.scalar(high, data_type)
    tz = dt.UTC if data_type.tz else None
    return (
        pa.scalar(dt.datetime.combine(low, dt.time(), tz), data_type),
        pa.scalar(dt.datetime.combine(high, dt.time(), tz), data_type),
    )


def row_checks(
    extract: Extract, path: Path, table: pa.Table, locate: Callable, unit: str
) -> tuple[list[BadRow], list[int]]:
    """Problems of whole typed rows: an empty primary key or cursor, a value outside an enum,
    a primary key and cursor shared by rows of different content. Returns the bad fields and
    the rows to leave out (bad ones, and exact copies of an earlier row)."""
    obj = extract.object_name
    bad: list[BadRow] = []
    left_out: set[int] = set()
    for name in extract.required_columns:
        if name == extract.primary_key:
            what = f"the primary key of {obj}"
        elif name == extract.cursor:
            what = f"the cursor of {obj}"
        else:
            what = f"required on every {obj} row (ingestion/extracts.py)"
        for index in pc.indices_nonzero(table.column(name).is_null()).to_pylist():
            line = locate(index, name)
            reason = f"empty, but it is {what}"
            message = f"{path} {unit} {line}, column {name}: {reason}"
            bad.append(BadRow(path.name, line, obj, name, None, reason, message))
            left_out.add(index)
    for name, data_type in extract.columns.items():
        if name not in table.column_names or not (
            pa.types.is_date(data_type) or pa.types.is_timestamp(data_type)
        ):
            continue
        column = table.column(name)
        low, high = _plausible_bounds(data_type)
        outside = pc.or_(pc.less(column, low), pc.greater_equal(column, high))
        for index in pc.indices_nonzero(pc.fill_null(outside, False)).to_pylist():
            value = column[index].as_py()
            line = locate(index, name)
            reason = f"not a plausible date (outside {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]})"
            message = f"{path} {unit} {line}, column {name}: {value!s} is {reason}"
            bad.append(BadRow(path.name, line, obj, name, str(value), reason, message))
            left_out.add(index)
    for name, allowed in extract.enums.items():
        if name not in table.column_names:
            continue
        column = table.column(name)
        outside = pc.and_(column.is_valid(), pc.invert(pc.is_in(column, pa.array(allowed))))
        for index in pc.indices_nonzero(outside).to_pylist():
            value = column[index].as_py()
            line = locate(index, name)
            reason = f"not one of {', '.join(allowed)}"
            message = f"{path} {unit} {line}, column {name}: {value!r} is {reason}"
            bad.append(BadRow(path.name, line, obj, name, value, reason, message))
            left_out.add(index)
    # Two rows with the same key and cursor: dlt would keep either one. Exact copies are one row;
    # different contents are both quarantined (no winner can be told).
    key, cursor = extract.primary_key, extract.cursor
    if pc.count_distinct(table.column(key), mode="all").as_py() == table.num_rows:
        return bad, sorted(left_out)  # every id once: no (id, cursor) repeat (3x faster, scale.md)
    counts = table.select([key, cursor]).group_by([key, cursor]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        wanted = {(r[key], r[cursor]) for r in repeated.select([key, cursor]).to_pylist()}
        groups: dict[tuple, list[int]] = {}
        pairs = zip(table.column(key).to_pylist(), table.column(cursor).to_pylist(), strict=True)
        for index, pair in enumerate(pairs):
            if pair in wanted and index not in left_out:
                groups.setdefault(pair, []).append(index)
        for (key_value, cursor_value), indices in groups.items():
            rows = [table.slice(i, 1).to_pylist()[0] for i in indices]
            if all(row == rows[0] for row in rows[1:]):
                left_out.update(indices[1:])  # exact copies of one row
                continue
            lines = [locate(i, key) for i in indices]
            for index, line in zip(indices, lines, strict=True):
                others = ", ".join(str(other) for other in lines if other != line)
                reason = (
                    f"duplicate key with conflicting content: the same {key} and {cursor} "
                    f"({cursor_value}) on {unit} {others}"
                )
                message = f"{path} {unit} {line}, column {key}: {key_value!r}: {reason}"
                bad.append(BadRow(path.name, line, obj, key, key_value, reason, message))
                left_out.add(index)
    return bad, sorted(left_out)
