"""Which articles a search may use: publication date range and publishers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ..text.dates import parse_bound


@dataclass(frozen=True)
class Filters:
    """Which articles a search may use: published between ``since`` and ``until``
    (inclusive) and by one of ``sources`` (case-insensitive; empty: any). An article
    without a publication date is left out whenever a date bound is given."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)

    @classmethod
    def make(cls, since: object = None, until: object = None,
             sources: Iterable[str] | str | None = None, as_of: object = None) -> Filters:
        """Validated filters from user input; ``as_of`` is an ``until`` (answer only from
        what was published by then).

        Example:
            >>> Filters.make(since="2021", as_of="2022-06-30", sources="CNN")
            Filters(since=datetime.date(2021, 1, 1), until=datetime.date(2022, 6, 30), \
sources=('cnn',))
        """
        from ..errors import InvalidArgumentError

        lo = parse_bound(since, end=False, name="since") if since is not None else None
        hi = parse_bound(until, end=True, name="until") if until is not None else None
        if as_of is not None:
            cut = parse_bound(as_of, end=True, name="as_of")
            hi = min(hi, cut) if hi else cut
        if isinstance(sources, str):
            sources = [sources]
        names = tuple(sorted({" ".join(str(x).split()).lower() for x in sources or ()} - {""}))
        if lo and hi and lo > hi:
            raise InvalidArgumentError(
                f"The date range is empty: since {lo.isoformat()} is after until "
                f"{hi.isoformat()}.", hint="Give a since that is not after until.")
        return cls(lo, hi, names)
