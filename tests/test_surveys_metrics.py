"""Survey results from known datasets (pmflow.plugins.surveys.metrics): response rate, CSAT (% of 4-5),
NPS (% 9-10 minus % 0-6), the boundaries between the groups, periods and trend."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pmflow.plugins.surveys.metrics import (
    Invitation,
    by_period,
    csat,
    figures,
    nps,
    nps_counts,
    period_start,
    trend,
)


def sent(day: str, kind: str = "csat", score: int | None = None) -> Invitation:
    return Invitation(kind, datetime.fromisoformat(day).replace(tzinfo=UTC), score is not None, score)


def test_no_answers_give_no_figures() -> None:
    assert csat([]) is None and nps([]) is None
    empty = figures([])
    assert (empty.invited, empty.answered, empty.response_rate, empty.csat, empty.nps) == (
        0,
        0,
        None,
        None,
        None,
    )
    unanswered = figures([sent("2026-01-05"), sent("2026-01-06", "nps")])
    assert (unanswered.invited, unanswered.answered, unanswered.response_rate) == (2, 0, 0.0)
    assert unanswered.csat is None and unanswered.nps is None and unanswered.csat_responses == 0


def test_csat_counts_4_and_5_as_satisfied_and_3_not() -> None:
    assert csat([3]) == 0.0
    assert csat([4]) == 100.0
    assert csat([1, 2, 3, 4, 5]) == pytest.approx(40.0)
    assert csat([3, 4]) == 50.0


@pytest.mark.parametrize(
    ("score", "group"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"), (10, "promoter")],
)
def test_nps_groups_at_their_boundaries(score: int, group: str) -> None:
    promoters, passives, detractors = nps_counts([score])
    assert {"promoter": promoters, "passive": passives, "detractor": detractors}[group] == 1
    assert promoters + passives + detractors == 1


def test_nps_from_known_datasets() -> None:
    assert nps([0, 3, 6]) == -100.0  # all detractors
    assert nps([9, 10]) == 100.0
    assert nps([7, 8]) == 0.0  # passives count in the total only
    assert nps([10, 10, 9, 8, 7, 6, 0]) == pytest.approx(100 * (3 - 2) / 7)
    assert nps([9, 6]) == 0.0  # a tie


def test_figures_keep_csat_and_nps_apart_and_count_responses() -> None:
    found = figures(
        [
            sent("2026-01-05", "csat", 5),
            sent("2026-01-05", "csat", 2),
            sent("2026-01-05", "csat"),
            sent("2026-01-06", "nps", 10),
            sent("2026-01-06", "nps", 6),
            sent("2026-01-06", "nps", 7),
            sent("2026-01-06", "custom", 3),  # a custom survey's answer counts as answered only
        ]
    )
    assert (found.invited, found.answered) == (7, 6)
    assert found.response_rate == pytest.approx(6 / 7)
    assert (found.csat, found.csat_responses) == (50.0, 2)
    assert (found.nps, found.promoters, found.passives, found.detractors, found.nps_responses) == (
        0.0,
        1,
        1,
        1,
        3,
    )


def test_period_starts() -> None:
    assert period_start(date(2026, 11, 26), "WEEK") == date(2026, 11, 23)  # a Thursday -> Monday
    assert period_start(date(2026, 11, 23), "WEEK") == date(2026, 11, 23)
    assert period_start(date(2026, 11, 26), "MONTH") == date(2026, 11, 1)
    assert period_start(date(2026, 11, 26), "QUARTER") == date(2026, 10, 1)
    assert period_start(date(2026, 3, 31), "QUARTER") == date(2026, 1, 1)


def test_periods_bucket_by_sending_with_gaps_and_trend() -> None:
    invitations = [
        sent("2026-01-31", "csat", 5),
        sent("2026-01-01", "csat", 3),
        sent("2026-03-15", "csat", 5),
        sent("2026-03-16", "csat", 4),
        sent("2026-03-31", "nps", 9),
    ]
    months = by_period(invitations, "MONTH")
    assert [(p.start, p.end) for p in months] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]
    assert [p.figures.invited for p in months] == [2, 0, 3]
    assert [p.figures.csat for p in months] == [50.0, None, 100.0]
    # February has no answers: no trend to March
    found = trend(months)
    assert found is not None and found.csat is None and found.nps is None
    quarters = by_period(invitations, "QUARTER")
    assert len(quarters) == 1 and quarters[0].figures.csat == 75.0 and trend(quarters) is None
    # a window given explicitly: empty periods at both ends, invitations outside are not counted by it
    window = by_period(invitations[2:4], "MONTH", date(2026, 2, 10), date(2026, 4, 2))
    assert [p.start.month for p in window] == [2, 3, 4]
    two = by_period([sent("2026-01-05", "csat", 5), sent("2026-02-05", "csat", 2)], "MONTH")
    rising = trend(two)
    assert rising is not None and rising.csat == -100.0
    weeks = by_period([sent("2026-11-22", "nps", 10), sent("2026-11-23", "nps", 0)], "WEEK")
    assert [p.start for p in weeks] == [date(2026, 11, 16), date(2026, 11, 23)]
    week_trend = trend(weeks)
    assert week_trend is not None and week_trend.nps == -200.0 and week_trend.csat is None
    assert by_period([], "WEEK") == []
