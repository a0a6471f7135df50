"""KPIs: the incremental ledger and the batch path against a brute-force oracle over raw events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.currency import ExchangeRates
from services.scoring.domain.kpi_facts import KpiEvent, Order, SurveyScore, TicketUpdate
from services.scoring.domain.kpi_ledger import GRANULARITIES, KpiLedger, bucket_of
from services.scoring.domain.kpis import KpiReport, Period, kpis_for

RATES = ExchangeRates("USD", {"EUR": Decimal("1.1"), "GBP": Decimal("1.25")})
START = datetime(2026, 1, 26, tzinfo=UTC)  # a Monday, five days before a month ends
CUSTOMERS = ("c0", "c1", "c2", "c3")
CHANNELS = ("web", "store", "email")


# --- the oracle: DESIGN.md §5 read literally, over every raw event at once ------------------


@dataclass(frozen=True)
class Expected:
    customers: int
    orders: int
    revenue: Decimal
    conversion_rate: float | None
    repeat_purchase_rate: float | None
    purchase_frequency: float | None
    historical_clv: Decimal | None
    retention_rate: float | None
    churn_rate: float | None
    nps: float | None
    csat: float | None
    ces: float | None
    first_contact_resolution: float | None
    avg_resolution_hours: float | None
    avg_first_response_hours: float | None


def oracle(
    events: Sequence[KpiEvent],
    owner: dict[str, str],
    period: Period,
    previous: Period,
    channel: str | None,
    only: set[str] | None = None,
) -> Expected:
    unique = list({e.id: e for e in events}.values())

    def who(e: KpiEvent) -> str:
        return owner.get(e.customer_id, e.customer_id)

    scoped = [
        e
        for e in unique
        if (channel is None or e.channel == channel) and (only is None or who(e) in only)
    ]
    inside = [e for e in scoped if _within(e.at, period)]
    customers = {who(e) for e in inside}
    before = {who(e) for e in scoped if _within(e.at, previous)}
    first_event_of_order, order_ids_of = _orders(inside, who)
    answers = _survey_answers(inside)
    nps, csat, ces = answers["nps"], answers["csat"], answers["ces"]
    converted = len(order_ids_of)
    repeaters = sum(1 for ids in order_ids_of.values() if len(ids) >= 2)
    mine = [e for e in unique if only is None or who(e) in only]
    responses, resolutions = _ticket_times(_ticket_steps(mine, who), channel, period)
    revenue = _revenue(first_event_of_order.values())
    retention = _ratio(len(customers & before), len(before))
    return Expected(
        customers=len(customers),
        orders=len(first_event_of_order),
        revenue=revenue,
        conversion_rate=_ratio(converted, len(customers)),
        repeat_purchase_rate=_ratio(repeaters, converted),
        purchase_frequency=_ratio(len(first_event_of_order), converted),
        historical_clv=revenue / converted if converted else None,
        retention_rate=retention,
        churn_rate=None if retention is None else 1 - retention,
        nps=_nps(nps),
        csat=100 * sum(s >= 4 for s in csat) / len(csat) if csat else None,
        ces=_ratio(sum(ces), len(ces)),
        first_contact_resolution=_ratio(sum(ok for _, ok in resolutions), len(resolutions)),
        avg_resolution_hours=_mean_hours([d for d, _ in resolutions]),
        avg_first_response_hours=_mean_hours(responses),
    )


def _within(at: datetime, period: Period) -> bool:
    return period.start <= at < period.end


def _orders(
    inside: Sequence[KpiEvent], who: Callable[[KpiEvent], str]
) -> tuple[dict[str, KpiEvent], dict[str, set[str]]]:
    """Each order's first event, and the order ids of each customer who ordered."""
    first_event_of_order: dict[str, KpiEvent] = {}
    order_ids_of: dict[str, set[str]] = {}
    for e in sorted(inside, key=lambda e: (e.at, e.id)):
        if e.order is not None:
            first_event_of_order.setdefault(e.order.order_id, e)
            order_ids_of.setdefault(who(e), set()).add(e.order.order_id)
    return first_event_of_order, order_ids_of


def _revenue(first_events: Iterable[KpiEvent]) -> Decimal:
    """Orders in USD; orders without a currency count for nothing."""
    revenue = Decimal(0)
    for e in first_events:
        assert e.order is not None
        if e.order.currency:
            rate = Decimal(1) if e.order.currency == "USD" else RATES.rates[e.order.currency]
            revenue += e.order.amount * rate
    return revenue


def _survey_answers(inside: Sequence[KpiEvent]) -> dict[str, list[int]]:
    answers: dict[str, list[int]] = {"nps": [], "csat": [], "ces": []}
    for e in inside:
        if e.survey is not None:
            answers[e.survey.survey].append(e.survey.score)
    return answers


def _ticket_steps(
    events: Sequence[KpiEvent], who: Callable[[KpiEvent], str]
) -> list[list[KpiEvent]]:
    """Tickets, per (customer, ticket id), from every step ever seen, in time order."""
    steps: dict[tuple[str, str], list[KpiEvent]] = {}
    for e in events:
        if e.ticket is not None:
            steps.setdefault((who(e), e.ticket.ticket_id), []).append(e)
    return [sorted(mine, key=lambda e: (e.at, e.id)) for mine in steps.values()]


def _ticket_times(
    tickets: Sequence[Sequence[KpiEvent]], channel: str | None, period: Period
) -> tuple[list[timedelta], list[tuple[timedelta, bool]]]:
    """First-response times, and (resolution time, resolved at first contact) per ticket."""
    responses: list[timedelta] = []
    resolutions: list[tuple[timedelta, bool]] = []
    for mine in tickets:
        opened = [e for e in mine if _step(e) == "opened"]
        if not opened or (channel is not None and opened[0].channel != channel):
            continue
        start = opened[0].at
        answered = [e.at for e in mine if _step(e) == "responded" and e.at >= start]
        resolved = [e.at for e in mine if _step(e) == "resolved"]
        reopened = len(opened) > 1 or any(_step(e) == "reopened" for e in mine)
        if answered and _within(start, period):
            responses.append(min(answered) - start)
        if resolved and _within(max(resolved), period):
            resolutions.append((max(max(resolved) - start, timedelta(0)), not reopened))
    return responses, resolutions


def _step(e: KpiEvent) -> str | None:
    return e.ticket.step if e.ticket else None


def _ratio(part: float, whole: int) -> float | None:
    return part / whole if whole else None


def _nps(scores: Sequence[int]) -> float | None:
    if not scores:
        return None
    promoters = 100 * sum(s >= 9 for s in scores) / len(scores)
    return promoters - 100 * sum(s <= 6 for s in scores) / len(scores)


def _mean_hours(durations: Sequence[timedelta]) -> float | None:
    if not durations:
        return None
    return sum(durations, timedelta()) / len(durations) / timedelta(hours=1)


def assert_matches(report: KpiReport, expected: Expected) -> None:
    assert report.customers == expected.customers
    assert report.orders == expected.orders
    assert report.revenue == expected.revenue
    assert report.aov == (expected.revenue / expected.orders if expected.orders else None)
    assert report.historical_clv == expected.historical_clv
    for name in (
        "conversion_rate",
        "repeat_purchase_rate",
        "purchase_frequency",
        "retention_rate",
        "churn_rate",
        "nps",
        "csat",
        "ces",
        "first_contact_resolution",
        "avg_resolution_hours",
        "avg_first_response_hours",
    ):
        want = getattr(expected, name)
        got = getattr(report, name)
        assert (got is None) == (want is None), name
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), name


# --- generated histories: orders, answers, ticket steps, duplicates, late events -----------

moments = st.integers(0, 24 * 45).map(lambda hours: START + timedelta(hours=hours))
orders = st.builds(
    Order,
    order_id=st.sampled_from(["o1", "o2", "o3", "o4"]),
    amount=st.sampled_from([Decimal("10"), Decimal("5.50"), Decimal("99.99")]),
    currency=st.sampled_from(["USD", "EUR", "GBP"]),
) | st.builds(Order, order_id=st.sampled_from(["o5", "o6"]), amount=st.just(Decimal(0)),
              currency=st.just(""))  # fmt: skip
surveys = st.one_of(
    st.builds(SurveyScore, survey=st.just("nps"), score=st.integers(0, 10)),
    st.builds(SurveyScore, survey=st.just("csat"), score=st.integers(1, 5)),
    st.builds(SurveyScore, survey=st.just("ces"), score=st.integers(1, 7)),
)
tickets = st.builds(
    TicketUpdate,
    ticket_id=st.sampled_from(["t1", "t2"]),
    step=st.sampled_from(["opened", "responded", "reopened", "resolved"]),
)


@st.composite
def raw_events(draw: st.DrawFn) -> list[KpiEvent]:
    count = draw(st.integers(0, 30))
    events = []
    for index in range(count):
        kind = draw(st.sampled_from(["plain", "order", "survey", "ticket"]))
        events.append(
            KpiEvent(
                id=f"e{index}",
                customer_id=draw(st.sampled_from(CUSTOMERS)),
                channel=draw(st.sampled_from(CHANNELS)),
                at=draw(moments),
                order=draw(orders) if kind == "order" else None,
                survey=draw(surveys) if kind == "survey" else None,
                ticket=draw(tickets) if kind == "ticket" else None,
            )
        )
    return events


Operation = tuple[str, object]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[KpiEvent], list[Operation]]:
    """Events delivered in any order, some twice, in batches between merges and splits."""
    events = draw(raw_events())
    deliveries = events + draw(
        st.lists(st.sampled_from(events), max_size=5) if events else st.just([])
    )
    deliveries = draw(st.permutations(deliveries))
    operations: list[Operation] = []
    while deliveries:
        size = draw(st.integers(1, 6))
        operations.append(("events", deliveries[:size]))
        deliveries = deliveries[size:]
        operations.append(
            draw(
                st.sampled_from(
                    [("none", None)]
                    + [("merge", (a, b)) for a in CUSTOMERS for b in CUSTOMERS if a != b]
                    + [("split", c) for c in CUSTOMERS]
                )
            )
        )
    return events, operations


def run(operations: Sequence[Operation]) -> tuple[KpiLedger, dict[str, str]]:
    """Drive the ledger; track the identity graph independently for the oracle."""
    ledger = KpiLedger()
    owner: dict[str, str] = {}
    for kind, argument in operations:
        if kind == "events":
            assert isinstance(argument, list)
            ledger.apply(argument)
        elif kind == "merge":
            assert isinstance(argument, tuple)
            source, into = str(argument[0]), str(argument[1])
            gone, kept = owner.get(source, source), owner.get(into, into)
            if gone != kept:
                for member in CUSTOMERS:
                    if owner.get(member, member) == gone:
                        owner[member] = kept
                ledger.merge(source, into)
        elif kind == "split":
            assert isinstance(argument, str)
            if owner.get(argument, argument) != argument:
                owner[argument] = argument
                ledger.split(argument)
    return ledger, owner


@settings(max_examples=150, deadline=None)
@given(history=histories())
def test_every_bucket_and_channel_equals_a_recomputation_from_the_raw_events(history):
    events, operations = history
    ledger, owner = run(operations)

    for granularity in GRANULARITIES:
        bucket = bucket_of(START - timedelta(days=7), granularity)
        while bucket.start < START + timedelta(days=50):
            previous = bucket_of(bucket.start - timedelta(microseconds=1), granularity)
            for channel in (None, *CHANNELS):
                report = ledger.report(granularity, bucket.start, RATES, channel)
                assert_matches(report, oracle(events, owner, bucket, previous, channel))
            bucket = bucket_of(bucket.end, granularity)


@settings(max_examples=150, deadline=None)
@given(
    history=histories(),
    start=moments,
    hours=st.integers(1, 24 * 20),
    channel=st.sampled_from([None, *CHANNELS]),
    segment=st.sets(st.sampled_from(CUSTOMERS)),
)
def test_any_period_segment_and_channel_equals_a_recomputation(
    history, start, hours, channel, segment
):
    events, operations = history
    _, owner = run(operations)
    grouped: dict[str, dict[str, KpiEvent]] = {}
    for event in events:
        grouped.setdefault(owner.get(event.customer_id, event.customer_id), {})[event.id] = event
    members = {c: list(mine.values()) for c, mine in grouped.items() if c in segment}
    period = Period(start, start + timedelta(hours=hours))

    report = kpis_for(members, period, RATES, channel=channel)

    assert_matches(report, oracle(events, owner, period, period.previous(), channel, segment))


def test_merging_two_customers_who_both_ordered_that_day_counts_one_repeat_buyer():
    day = START + timedelta(hours=10)
    events = [
        KpiEvent("e1", "anon", "web", day, order=Order("o1", Decimal(10), "USD")),
        KpiEvent("e2", "known", "store", day, order=Order("o2", Decimal(20), "USD")),
    ]
    ledger = KpiLedger()
    ledger.apply(events)
    assert ledger.report("day", day, RATES).conversion_rate == 1.0
    assert ledger.report("day", day, RATES).repeat_purchase_rate == 0.0

    ledger.merge("anon", "known")
    merged = ledger.report("day", day, RATES)
    assert (merged.customers, merged.customers_with_repeat_order) == (1, 1)
    assert merged.repeat_purchase_rate == 1.0

    ledger.split("anon")
    assert ledger.report("day", day, RATES).customers == 2


def test_a_late_event_changes_only_the_buckets_it_falls_in():
    ledger = KpiLedger(["day"])
    ledger.apply([KpiEvent("e1", "c1", "web", START + timedelta(days=5))])

    changed = ledger.apply([KpiEvent("e0", "c1", "web", START + timedelta(days=1))])

    day = START + timedelta(days=1)
    assert changed == {("day", day, "*"), ("day", day, "web")}
    assert ledger.apply([KpiEvent("e0", "c1", "web", START + timedelta(days=1))]) == set()


def test_trend_reports_each_week_of_the_period_with_retention_against_the_week_before():
    ledger = KpiLedger(["week"])
    ledger.apply(
        [
            KpiEvent("a", "c1", "web", START),
            KpiEvent("b", "c2", "web", START),
            KpiEvent("c", "c1", "web", START + timedelta(days=8)),
        ]
    )

    points = ledger.trend("week", Period(START, START + timedelta(days=14)), RATES)

    assert [p.period.start for p in points] == [START, START + timedelta(days=7)]
    assert [p.report.customers for p in points] == [2, 1]
    assert points[1].report.retention_rate == 0.5
    assert points[1].report.churn_rate == 0.5
