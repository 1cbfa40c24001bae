"""Times a client may send: with a UTC offset and inside the years a site can mean (1970 to 2100).

A deadline in the year 9999 at -14:00 lies past what ISO 8601 can show once turned to UTC; stored,
it broke every later listing. Such values are refused on the way in (422), never stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    # pydantic would read "0.5", "6.1e-05" or 1700000000 as epoch seconds; the schema says ISO 8601.
    if isinstance(value, (int, float)) or (isinstance(value, str) and not _ISO_DATE.match(value.strip())):
        raise ValueError("must be ISO 8601 with a UTC offset, e.g. 2026-12-02T08:00:00+08:00")
    return value


def _site_time(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a UTC offset: add 'Z' or one like '+08:00'")
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("must lie between 1970 and 2100") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError("must lie between 1970 and 2100")
    return utc


# The schema names the years that are safe whatever the offset (1971 to 2098), so a generated
# request that fits the schema is never refused for its year.
SITE_YEARS = r"^(197[1-9]|19[89][0-9]|20[0-8][0-9]|209[0-8])-"
SiteTime = Annotated[
    datetime,
    Field(json_schema_extra={"pattern": SITE_YEARS}),
    BeforeValidator(_iso_only),
    AfterValidator(_site_time),
]


def _filter_time(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("needs a UTC offset: add 'Z' or one like '+08:00'")
    return moment


# A time that only filters (``since``): any date-time with an offset; never stored, so no range.
FilterTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_filter_time)]


def epoch_s(moment: datetime) -> float:
    """Seconds since 1970 for any aware datetime, also those whose UTC date lies outside years 1..9999."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
