"""Survey results as pure functions over invitations: response rate, CSAT, NPS, per period, with trend.

- response rate = answered / invited;
- CSAT = % of the answers to csat surveys that are 4 or 5 (1..5 scale);
- NPS = % promoters (9-10) - % detractors (0-6) of the answers to nps surveys, -100..100.

Every figure is ``None`` when there is nothing to compute it from (no invitation, no answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

Period = Literal["WEEK", "MONTH", "QUARTER"]

CSAT_SATISFIED = 4  # 4 and 5 count as satisfied
NPS_PROMOTER = 9  # 9 and 10
NPS_DETRACTOR = 6  # 0 to 6; 7 and 8 are passives


@dataclass(frozen=True)
class Invitation:
    """What the figures need of one invitation: its survey's kind, when it was sent, its score."""

    kind: str  # csat | nps | custom
    sent_at: datetime
    answered: bool
    score: int | None = None


@dataclass(frozen=True)
class Figures:
    invited: int
    answered: int
    response_rate: float | None
    csat: float | None
    csat_responses: int
    nps: float | None
    promoters: int
    passives: int
    detractors: int
    nps_responses: int


def response_rate(invited: int, answered: int) -> float | None:
    return None if invited == 0 else answered / invited


def csat(scores: Sequence[int]) -> float | None:
    """% of scores that are 4 or 5."""
    if not scores:
        return None
    return 100.0 * sum(1 for s in scores if s >= CSAT_SATISFIED) / len(scores)


def nps_counts(scores: Iterable[int]) -> tuple[int, int, int]:
    """(promoters, passives, detractors)."""
    promoters = passives = detractors = 0
    for s in scores:
        if s >= NPS_PROMOTER:
            promoters += 1
        elif s <= NPS_DETRACTOR:
            detractors += 1
        else:
            passives += 1
    return promoters, passives, detractors


def nps(scores: Sequence[int]) -> float | None:
    """% promoters - % detractors, from -100 (all detractors) to 100 (all promoters)."""
    if not scores:
        return None
    promoters, _, detractors = nps_counts(scores)
    return 100.0 * (promoters - detractors) / len(scores)


def figures(invitations: Iterable[Invitation]) -> Figures:
    items = list(invitations)
    answered = [i for i in items if i.answered]
    csat_scores = [i.score for i in answered if i.kind == "csat" and i.score is not None]
    nps_scores = [i.score for i in answered if i.kind == "nps" and i.score is not None]
    promoters, passives, detractors = nps_counts(nps_scores)
    return Figures(
        invited=len(items),
        answered=len(answered),
        response_rate=response_rate(len(items), len(answered)),
        csat=csat(csat_scores),
        csat_responses=len(csat_scores),
        nps=nps(nps_scores),
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        nps_responses=len(nps_scores),
    )


def period_start(day: date, period: Period) -> date:
    """The first day of the week (Monday), month or quarter ``day`` is in."""
    if period == "WEEK":
        return day - timedelta(days=day.weekday())
    if period == "MONTH":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_start(start: date, period: Period) -> date:
    if period == "WEEK":
        return start + timedelta(days=7)
    months = 1 if period == "MONTH" else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class PeriodFigures:
    start: date
    end: date  # the last day of the period
    figures: Figures


def by_period(
    invitations: Iterable[Invitation], period: Period, first: date | None = None, last: date | None = None
) -> list[PeriodFigures]:
    """Figures per period, oldest first, every period from ``first`` (else the earliest sending) to
    ``last`` (else the latest) included, empty ones too, so a gap shows as a gap."""
    items = sorted(invitations, key=lambda i: i.sent_at)
    days = [i.sent_at.date() for i in items]
    low = first if first is not None else (days[0] if days else None)
    high = last if last is not None else (days[-1] if days else None)
    if low is None or high is None or low > high:
        return []
    found: list[PeriodFigures] = []
    start = period_start(low, period)
    while start <= high:
        end = next_start(start, period)
        inside = [i for i, d in zip(items, days, strict=True) if start <= d < end]
        found.append(PeriodFigures(start, end - timedelta(days=1), figures(inside)))
        start = end
    return found


@dataclass(frozen=True)
class Trend:
    """The change of CSAT and NPS from the period before the last to the last (None when either is)."""

    csat: float | None
    nps: float | None


def trend(periods: Sequence[PeriodFigures]) -> Trend | None:
    if len(periods) < 2:
        return None
    before, last = periods[-2].figures, periods[-1].figures
    return Trend(
        csat=None if before.csat is None or last.csat is None else last.csat - before.csat,
        nps=None if before.nps is None or last.nps is None else last.nps - before.nps,
    )
