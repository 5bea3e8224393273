"""The tables, derived from the models (collector.models), and the model → row mapping.

The models are the one declaration of each table: :data:`TABLES` (columns in field order, each typed by
the :class:`~collector.models.Column` of its annotation, dedup keys, partitioning) comes from them, and
so does the questdb role's table list: ``python -m collector.schema`` writes
``roles/questdb/files/schema.yml`` (``tests/collector/test_schema.py`` fails, naming that command, when
the file is behind the models). The collector writes exactly these columns: SYMBOL columns as ILP
symbols, TIMESTAMP columns as timestamps, LONG as integers, DOUBLE as floats, BOOLEAN as booleans and
VARCHAR as strings.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Any, cast, get_args, get_origin

import yaml

from collector.models import METRIC_MODELS, Column, ColumnType, MetricModel
from collector.sink.rows import Row

ROLE_SCHEMA_FILE = "roles/questdb/files/schema.yml"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    dedup_upsert_keys: tuple[str, ...]
    timestamp: str = "timestamp"
    partition_by: str = "DAY"
    writer: str = "collector"

    def column_types(self) -> dict[str, ColumnType]:
        return dict(self.columns)

    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _column(annotation: Any, metadata: Iterable[Any] = ()) -> Column | None:
    """The Column in `metadata` or anywhere in `annotation` (Annotated, Optional)."""
    for item in metadata:
        if isinstance(item, Column):
            return item
    if get_origin(annotation) is Annotated:
        found = _column(None, annotation.__metadata__)
        return found or _column(get_args(annotation)[0])
    for arg in get_args(annotation):
        found = _column(arg) if arg is not type(None) else None
        if found:
            return found
    return None


def table_spec(model: type[MetricModel]) -> TableSpec:
    """The table of a model: one column per field, in field order, the timestamp first."""
    columns: list[tuple[str, ColumnType]] = []
    for name, info in model.model_fields.items():
        column = _column(info.annotation, info.metadata)
        if column is None:
            raise TypeError(f"{model.__name__}.{name} has no Column type in its annotation")
        columns.append((name, column.type))
    if columns[0] != ("timestamp", "TIMESTAMP"):
        raise TypeError(f"{model.__name__}: the first field must be the TIMESTAMP 'timestamp'")
    missing = set(model.DEDUP_KEYS) - {name for name, _ in columns}
    if missing:
        raise TypeError(f"{model.__name__}.DEDUP_KEYS names no field: {sorted(missing)}")
    return TableSpec(
        model.TABLE,
        tuple(columns),
        tuple(model.DEDUP_KEYS),
        partition_by=model.PARTITION_BY,
        writer=model.WRITER,
    )


TABLES: MappingProxyType[str, TableSpec] = MappingProxyType({m.TABLE: table_spec(m) for m in METRIC_MODELS})
MODEL_FOR_TABLE: MappingProxyType[str, type[MetricModel]] = MappingProxyType(
    {m.TABLE: m for m in METRIC_MODELS}
)


def role_schema() -> list[dict[str, Any]]:
    """The tables in the questdb role's format (``_questdb_schema``: the questdb_table module's options)."""
    return [
        {
            "name": spec.name,
            "timestamp": spec.timestamp,
            "partition_by": spec.partition_by,
            "wal": True,
            "dedup_upsert_keys": list(spec.dedup_upsert_keys),
            "columns": [{"name": name, "type": kind} for name, kind in spec.columns],
            "writer": spec.writer,
        }
        for spec in TABLES.values()
    ]


class _IndentedDumper(yaml.SafeDumper):
    """Block sequences indented under their key, as yamllint (ansible-lint) wants them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def role_schema_yaml() -> str:
    header = (
        "---\n# Generated from collector/models.py (the one declaration of each table) by\n"
        f"#   python -m collector.schema > {ROLE_SCHEMA_FILE}\n# Do not edit: change the models.\n"
    )
    body = yaml.dump(
        role_schema(), Dumper=_IndentedDumper, sort_keys=False, default_flow_style=None, width=110
    )
    return header + body


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetime_ns(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exact to the microsecond."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_NEW = tuple.__new__


def _nullable(table: str) -> frozenset[str]:
    """The fields of a table's model that may hold None (an unknown name counts as nullable)."""
    fields = MODEL_FOR_TABLE[table].model_fields
    return frozenset(
        name
        for name, info in fields.items()
        if info.default is None or type(None) in get_args(info.annotation) or info.annotation is None
    )


def _mapping_source(variable: str, names: tuple[str, ...], nullable: frozenset[str] | None) -> list[str]:
    """Lines that build ``variable`` as a dict display of ``d[name]``, without the None values."""
    items = ", ".join(f"{name!r}: d[{name!r}]" for name in names)
    lines = [f"    {variable} = {{{items}}}"]
    for name in names:
        if nullable is None or name in nullable:
            lines += [f"    if {variable}[{name!r}] is None:", f"        del {variable}[{name!r}]"]
    return lines


def _converter(spec: TableSpec) -> Callable[[dict[str, Any]], Row]:
    """A model's ``__dict__`` → Row function for one table, generated from its spec.

    This is the client's hot path (one call per row): dict displays with constant keys are several
    times faster than building the dicts in a loop or from ``zip()``. The names are the schema's
    own identifiers, checked below, so the generated source is plain and safe.
    """
    kinds = spec.columns[1:]
    symbols = tuple(name for name, kind in kinds if kind == "SYMBOL")
    columns = tuple(name for name, kind in kinds if kind in ("LONG", "DOUBLE", "BOOLEAN", "VARCHAR"))
    timestamps = tuple(name for name, kind in kinds if kind == "TIMESTAMP")
    for name in (spec.name, spec.timestamp, *symbols, *columns, *timestamps):
        if not name.isidentifier():
            raise ValueError(f"not an identifier: {name!r}")
    lines = ["def convert(d):", f"    when = d[{spec.timestamp!r}]", "    last = _last[0]"]
    lines += ["    if when == last[0]:", "        at = last[1]", "    else:"]
    lines += ["        at = _ns(when)", "        _last[0] = (when, at)"]
    nullable = _nullable(spec.name) if spec.name in MODEL_FOR_TABLE else None
    lines += _mapping_source("s", symbols, nullable) + _mapping_source("c", columns, nullable)
    lines.append("    t = {}")
    for name in timestamps:
        lines += [f"    v = d[{name!r}]", "    if v is not None:", f"        t[{name!r}] = _ns(v)"]
    lines.append(f"    return _new(_Row, ({spec.name!r}, at, s, c, t))")
    scope: dict[str, Any] = {"_ns": datetime_ns, "_new": _NEW, "_Row": Row, "_last": [(None, 0)]}
    exec(compile("\n".join(lines), f"<to_row {spec.name}>", "exec"), scope)
    return cast(Callable[[dict[str, Any]], Row], scope["convert"])


_CONVERTERS = {name: _converter(spec) for name, spec in TABLES.items()}


def to_row(sample: MetricModel) -> Row:
    """The row of a validated model (None columns are left out).

    The models' strict types already are the schema's: LONG → int, DOUBLE → float (pydantic turns
    an int into a float), BOOLEAN → bool, VARCHAR → str; tests/collector/test_schema.py checks it.
    The rows of one poll share their timestamp: each table's converter remembers the last one.
    """
    return _CONVERTERS[sample.TABLE](sample.__dict__)


def to_rows(samples: Iterable[MetricModel]) -> list[Row]:
    """``[to_row(sample) for sample in samples]`` without a call per sample (the client's hot path)."""
    converters = _CONVERTERS
    return [converters[sample.TABLE](sample.__dict__) for sample in samples]


if __name__ == "__main__":
    sys.stdout.write(role_schema_yaml())
