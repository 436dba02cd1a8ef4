"""Listing as Octavia does it: filters, tag filters, `fields`, sorting and keyset pagination with links."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    SmallInteger,
    String,
    and_,
    exists,
    false,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import ColumnProperty, Session

from ostia.db.models import Tag
from ostia.domain import errors

RESERVED = {"fields", "sort", "sort_key", "sort_dir", "limit", "marker", "page_reverse",
            "tags", "tags-any", "not-tags", "not-tags-any"}
TRUE_WORDS = {"true", "t", "yes", "y", "on", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "off", "0"}
BAD_FILTER = "One or more arguments are either duplicate or invalid"
# Octavia also accepts its data-model spelling of a filter (it checks names after translating them to the
# data model); openstacksdk sends `load_balancer_id` when listing listeners.
DATA_MODEL_NAMES = {"load_balancer_id": "loadbalancer_id", "enabled": "admin_state_up"}


def parse_bool(value: str) -> bool | None:
    low = value.strip().lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    return None


@dataclasses.dataclass
class Listing:
    """What a list route describes: which columns can be filtered/sorted, and how rows go on the wire."""

    collection: str  # wire plural, e.g. "loadbalancers"
    columns: Mapping[str, Any]  # wire name → mapped column (filters and sort keys)
    id_column: Any
    created_column: Any | None
    to_wire: Callable[[Any], dict[str, Any]]
    taggable: bool = True
    links_key: str | None = None  # default "<collection>_links"
    default_sort: Sequence[tuple[str, str]] = ()
    id_attr: str = "id"  # attribute a marker names (availability zones use "name")


# Signed range of each integer column type on PostgreSQL/MariaDB: a filter value outside it is a DB error there.
_INT_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))


def _coerce(column: ColumnElement[Any], raw: str) -> Any:
    """The filter value as the column's type; anything the database could not compare is a bad filter."""
    ctype = column.type
    if isinstance(ctype, Boolean):
        value = parse_bool(raw)
        if value is None:
            raise errors.BadRequest(BAD_FILTER)
        return value
    if isinstance(ctype, Integer):
        try:
            number = int(raw)
        except ValueError:
            raise errors.BadRequest(BAD_FILTER) from None
        bits = next(b for kind, b in _INT_BITS if isinstance(ctype, kind))
        if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
            raise errors.BadRequest(BAD_FILTER)
        return number
    if isinstance(ctype, Float):
        try:
            number_f = float(raw)
        except ValueError:
            raise errors.BadRequest(BAD_FILTER) from None
        if not math.isfinite(number_f):  # MySQL cannot bind inf/nan
            raise errors.BadRequest(BAD_FILTER)
        return number_f
    if isinstance(ctype, DateTime):
        try:
            moment = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            raise errors.BadRequest(BAD_FILTER) from None
        if moment.tzinfo is not None:  # stored naive UTC
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment
    if not isinstance(ctype, String):  # JSON lists/objects: no equality with a query string on PostgreSQL
        raise errors.BadRequest(BAD_FILTER)
    if "\x00" in raw:  # PostgreSQL refuses NUL in text parameters
        raise errors.BadRequest(BAD_FILTER)
    return raw


def _split(values: list[str]) -> list[str]:
    parts = [part for v in values for part in v.split(",") if part]
    if any("\x00" in part for part in parts):  # PostgreSQL refuses NUL in text parameters
        raise errors.BadRequest(BAD_FILTER)
    return parts


def _tag_filters(stmt: Select[Any], id_column: ColumnElement[Any], params: Mapping[str, list[str]]) -> Select[Any]:
    def has(tag: str) -> ColumnElement[bool]:
        return exists().where(and_(Tag.resource_id == id_column, Tag.tag == tag))

    if tags := _split(params.get("tags", [])):
        stmt = stmt.where(and_(*[has(t) for t in tags]))
    if tags := _split(params.get("tags-any", [])):
        stmt = stmt.where(or_(*[has(t) for t in tags]))
    if tags := _split(params.get("not-tags", [])):
        stmt = stmt.where(~and_(*[has(t) for t in tags]))
    if tags := _split(params.get("not-tags-any", [])):
        stmt = stmt.where(~or_(*[has(t) for t in tags]))
    return stmt


def parse_sort(params: Mapping[str, list[str]], listing: Listing) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if params.get("sort"):
        for item in _split(params["sort"]):
            key, _, direction = item.partition(":")
            keys.append((key.strip(), (direction or "asc").strip().lower()))
    elif params.get("sort_key"):
        names = _split(params["sort_key"])
        dirs = _split(params.get("sort_dir", []))
        keys = [(n.strip(), (dirs[i] if i < len(dirs) else "asc").strip().lower()) for i, n in enumerate(names)]
    elif params.get("sort_dir"):
        keys = []
    for key, direction in keys:
        if key not in listing.columns:
            raise errors.BadRequest(f"Supplied sort key '{key}' is not valid.")
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"Supplied sort direction '{direction}' is not valid.")
    keys = keys or list(listing.default_sort)
    chosen = {k for k, _ in keys}
    if listing.created_column is not None and "created_at" not in chosen:
        keys.append(("created_at", "asc"))
    if "id" not in chosen:
        keys.append(("id", "asc"))
    return keys


def _sort_column(listing: Listing, key: str) -> ColumnElement[Any]:
    if key == "id":
        return listing.id_column
    if key == "created_at" and listing.created_column is not None and key not in listing.columns:
        return listing.created_column
    return listing.columns[key]


def _limit(params: Mapping[str, list[str]], max_limit: int) -> int:
    raw = params.get("limit", [None])[-1]
    if raw is None or raw == "" or raw.lower() == "infinite":
        return max_limit
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest(f"Supplied pagination limit '{raw}' is not valid.") from None
    return max_limit if value < 1 else min(value, max_limit)


def _keyset(listing: Listing, sort: list[tuple[str, str]], marker_values: list[Any],
            reverse: bool) -> ColumnElement[bool]:
    """Rows strictly after the marker in sort order (before it when paging in reverse)."""
    clauses = []
    for i, (key, direction) in enumerate(sort):
        col = _sort_column(listing, key)
        forward = (direction == "asc") != reverse
        value = marker_values[i]
        equal = [(_sort_column(listing, k) == v) if v is not None else _sort_column(listing, k).is_(None)
                 for (k, _), v in zip(sort[:i], marker_values[:i], strict=True)]
        step: ColumnElement[bool]
        if value is None:
            # NULLs sort first ascending on SQLite/MySQL; we order nulls first everywhere.
            step = col.is_not(None) if forward else false()
        else:
            bound = literal(value, col.type)  # SQLAlchemy refuses `col > True`: booleans need a bound parameter
            step = (col > bound) if forward else or_(col < bound, col.is_(None))
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _model_column(listing: Listing, key: str) -> Any | None:
    """A stored attribute that is no wire field (e.g. `l7policy_id` of rules, which openstacksdk sends when
    listing them): Octavia accepts any data-model attribute as a filter."""
    model = getattr(listing.id_column, "class_", None)
    attr = getattr(model, key, None) if model is not None and not key.startswith("_") else None
    return attr if isinstance(getattr(attr, "property", None), ColumnProperty) else None


def list_page(session: Session, stmt: Select[Any], listing: Listing, params: Mapping[str, list[str]],
              base_url: str, max_limit: int, scope: Callable[[Select[Any]], Select[Any]] | None = None,
              ) -> dict[str, Any]:
    """Run a list query and return the wire body `{collection: [...], collection_links: [...]}`."""
    for key, values in params.items():
        if key in RESERVED:
            continue
        if key not in listing.columns:
            key = DATA_MODEL_NAMES.get(key, key)
        column = listing.columns.get(key)
        if column is None:
            column = _model_column(listing, key)
        if column is None or len(values) != 1:
            raise errors.BadRequest(BAD_FILTER)
        raw = values[0]
        stmt = stmt.where(column.is_(None) if raw == "" and column.nullable else column == _coerce(column, raw))
    if listing.taggable:
        stmt = _tag_filters(stmt, listing.id_column, params)
    if scope is not None:
        stmt = scope(stmt)

    sort = parse_sort(params, listing)
    limit = _limit(params, max_limit)
    reverse = parse_bool(params.get("page_reverse", ["false"])[-1]) or False
    marker = params.get("marker", [None])[-1]
    if marker and "\x00" in marker:
        raise errors.BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
    if marker:
        cols = [_sort_column(listing, k) for k, _ in sort]
        row = session.execute(select(*cols).where(listing.id_column == marker)).first()
        if row is None:
            raise errors.BadRequest(f"Supplied pagination marker '{marker}' is not valid.")
        stmt = stmt.where(_keyset(listing, sort, list(row), reverse))
    # MySQL has no NULLS FIRST/LAST, and already puts NULLs first ascending (last descending).
    explicit_nulls = session.get_bind().dialect.name != "mysql"
    order = []
    for key, direction in sort:
        col = _sort_column(listing, key)
        if (direction == "asc") != reverse:
            order.append(col.asc().nulls_first() if explicit_nulls else col.asc())
        else:
            order.append(col.desc().nulls_last() if explicit_nulls else col.desc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit)).unique())
    if reverse:
        rows.reverse()

    items = [listing.to_wire(r) for r in rows]
    fields = _split(params.get("fields", []))
    if fields:
        items = [{k: v for k, v in item.items() if k in fields} for item in items]

    links = []
    link_params: dict[str, str] = {"limit": str(limit)}
    if params.get("sort"):
        link_params["sort"] = ",".join(params["sort"])
    elif params.get("sort_key"):
        link_params["sort_key"] = ",".join(params["sort_key"])
        if params.get("sort_dir"):
            link_params["sort_dir"] = ",".join(params["sort_dir"])
    # Octavia lists "previous" before "next".
    if marker and rows:
        query = urlencode({**link_params, "marker": getattr(rows[0], listing.id_attr), "page_reverse": "True"})
        links.append({"href": f"{base_url}?{query}", "rel": "previous"})
    if rows and len(rows) == limit:
        query = urlencode({**link_params, "marker": getattr(rows[-1], listing.id_attr)})
        links.append({"href": f"{base_url}?{query}", "rel": "next"})
    return {listing.collection: items, (listing.links_key or f"{listing.collection}_links"): links}


def apply_fields(item: dict[str, Any], params: Mapping[str, list[str]]) -> dict[str, Any]:
    fields = _split(params.get("fields", []))
    return {k: v for k, v in item.items() if k in fields} if fields else item
