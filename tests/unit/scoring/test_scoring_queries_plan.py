"""A period's reading plan: whole months as rollups, the edges day by day, nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.kpi_buckets import day_number, day_start
from services.scoring.queries import plan

JAN_1 = day_number(datetime(2026, 1, 1, tzinfo=UTC))


@given(first=st.integers(JAN_1 - 400, JAN_1 + 400), length=st.integers(0, 800))
def test_the_plan_covers_every_day_of_the_period_exactly_once(first, length):
    months, ranges = plan(first, first + length)

    covered: list[int] = []
    for start in months:
        moment = day_start(start)
        assert moment.day == 1
        following = moment.replace(year=moment.year + moment.month // 12,
                                   month=moment.month % 12 + 1)  # fmt: skip
        covered += range(start, day_number(following))
    for low, high in ranges:
        covered += range(low, high)
    assert sorted(covered) == list(range(first, first + length))


def test_a_year_reads_twelve_rollups():
    months, ranges = plan(JAN_1, day_number(datetime(2027, 1, 1, tzinfo=UTC)))

    assert len(months) == 12
    assert ranges == []
