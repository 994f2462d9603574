"""What the unit tests' fake stack handles share: history paged as `pulumi stack history` pages it."""

from __future__ import annotations

from pulumi import automation as auto


def history_page(
    entries: list[auto.UpdateSummary], page_size: int | None, page: int | None
) -> list[auto.UpdateSummary]:
    """`entries` (newest first) as the CLI returns them: 10 unless a page size is given, all for 0."""
    size = 10 if page_size is None else page_size
    if size == 0:
        return entries
    start = ((page or 1) - 1) * size
    return entries[start : start + size]
