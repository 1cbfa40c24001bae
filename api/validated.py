"""Times a client may send: with a UTC offset and inside the years a site can mean (1970 to 2100).

A deadline in the year 9999 at -14:00 lies past what ISO 8601 can show once turned to UTC; stored,
it broke every later listing. Such values are refused on the way in (422), never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


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


SiteTime = Annotated[datetime, AfterValidator(_site_time)]
