"""Query parameters every list route shares: integers, booleans and page cursors.

Lists page newest first by id cursors (`before_id` / `after_id`, older clients) or by the
opaque `page` cursor the newest SDK echoes back from `next_page`; both name a row id.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams

from antiphon.errors import InvalidRequest
from antiphon.store.pages import PageRequest

MAX_LIMIT = 1000
PAGE_PREFIX = "page_"


def integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: must be an integer from {low} to {high}, got {raw!r}")
    return int(raw)


def boolean(params: QueryParams, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise InvalidRequest(f"{name}: must be true or false, got {raw!r}")
    return raw.lower() == "true"


def listed(params: QueryParams, name: str) -> list[str]:
    """A repeated parameter: `name[]=a&name[]=b` (the SDKs' form) or `name=a&name=b`."""
    return [*params.getlist(f"{name}[]"), *params.getlist(name)]


def page_request(params: QueryParams) -> PageRequest:
    page = params.get("page")
    if page is not None and not page.startswith(PAGE_PREFIX):
        raise InvalidRequest(f"page: not a page cursor from this server: {page!r}")
    after = page[len(PAGE_PREFIX):] if page else params.get("after_id")
    before = params.get("before_id")
    if before and after:
        raise InvalidRequest("give one of before_id, after_id and page, not both")
    return PageRequest(integer(params, "limit", 20, 1, MAX_LIMIT), before or None, after or None)


def next_page(has_more: bool, last_id: str | None) -> str | None:
    """The cursor of the page after one that ended at `last_id`."""
    return PAGE_PREFIX + last_id if has_more and last_id else None
