"""Collectors turn one poll result into validated metric models, one table each.

A collector never raises for bad data: an entry that fails validation becomes a
:class:`SampleError` naming the table, the entry and the field, and the other entries still count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import ValidationError

from collector.models import Env, MetricModel, ValidationContext
from collector.sources.base import PollResult, Snapshot

M = TypeVar("M", bound=MetricModel)


@dataclass(frozen=True)
class CollectContext:
    """What a collector needs besides the poll result."""

    validation: ValidationContext
    env: Env
    host: str


@dataclass(frozen=True)
class SampleError:
    table: str
    item: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.table}[{self.item}].{self.field}: {self.message}"


@dataclass
class Collected:
    samples: list[MetricModel] = field(default_factory=list)
    errors: list[SampleError] = field(default_factory=list)

    def extend(self, other: Collected) -> None:
        self.samples.extend(other.samples)
        self.errors.extend(other.errors)


class Collector(Protocol):
    table: str

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected: ...


class EntryListCollector:
    """One ``model`` row per entry of the status list named ``entries``: the entry's ``keys``, with the
    status' timestamp and host and the collector's env. ``item_keys`` name an entry in errors."""

    table: str
    model: ClassVar[type[MetricModel]]
    entries: ClassVar[str]
    item_keys: ClassVar[tuple[str, ...]]

    @property
    def keys(self) -> tuple[str, ...]:
        return status_keys(self.model)

    def collect(self, result: PollResult, ctx: CollectContext) -> Collected:
        out = Collected()
        if not isinstance(result, Snapshot):
            return out
        status = result.status
        base = {"timestamp": status.timestamp, "env": ctx.env, "host": status.host or ctx.host}
        for entry in getattr(status, self.entries):
            data = {**base, **pick(entry, *self.keys)}
            item = "/".join(str(entry.get(k, "?")) for k in self.item_keys)
            build(self.model, data, ctx, item, out)
        return out


def build(
    model: type[M], data: Mapping[str, Any], ctx: CollectContext, item: str, out: Collected
) -> M | None:
    """Validate ``data`` as ``model``; on failure record one error per bad field and return None."""
    try:
        sample = model.model_validate(data, context=ctx.validation.as_context())
    except ValidationError as err:
        for problem in err.errors(include_url=False):
            where = ".".join(str(part) for part in problem["loc"]) or "(row)"
            message = problem["msg"].removeprefix("Value error, ")
            out.errors.append(SampleError(model.TABLE, item, where, message))
        return None
    out.samples.append(sample)
    return sample


ROW_KEYS = ("timestamp", "env", "host")


def status_keys(model: type[MetricModel], *exclude: str) -> tuple[str, ...]:
    """The keys a status entry may give for a row of ``model``: its columns less the ones every row
    takes from the document (timestamp, env, host) and ``exclude`` (e.g. a mapping's key)."""
    return tuple(name for name in model.model_fields if name not in (*ROW_KEYS, *exclude))


def pick(entry: Any, *keys: str) -> dict[str, Any]:
    """The known keys of a status entry (unknown keys are ignored: the schema may grow)."""
    if not isinstance(entry, Mapping):
        return {}
    return {key: entry[key] for key in keys if key in entry}


def shorten(text: Any, limit: int = 1024) -> Any:
    """Long error texts are cut (with a marker) rather than failing the whole row."""
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
