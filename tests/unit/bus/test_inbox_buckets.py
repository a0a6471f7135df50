"""The weekly bucket arithmetic behind MongoInbox's index-free retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shared.bus.inbox import MIN_RETENTION, bucket_name, expired_buckets, live_buckets


def test_bucket_is_named_for_the_iso_week_zero_padded() -> None:
    assert bucket_name(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == "inbox_2026w48"
    assert bucket_name(datetime(2026, 2, 2, tzinfo=UTC)) == "inbox_2026w06"


def test_bucket_follows_the_iso_year_not_the_calendar_year() -> None:
    # 1 January 2027 is a Friday, so it still belongs to ISO week 53 of 2026.
    assert bucket_name(datetime(2027, 1, 1, tzinfo=UTC)) == "inbox_2026w53"
    assert bucket_name(datetime(2027, 1, 4, tzinfo=UTC)) == "inbox_2027w01"


def test_bucket_week_is_taken_in_utc() -> None:
    # Monday 00:30 in UTC+2 is still Sunday in UTC: the previous week's bucket.
    plus_two = timezone(timedelta(hours=2))
    assert bucket_name(datetime(2026, 11, 23, 0, 30, tzinfo=plus_two)) == "inbox_2026w47"


def test_live_buckets_are_this_week_and_the_previous_one_across_a_year_end() -> None:
    assert live_buckets(datetime(2027, 1, 5, tzinfo=UTC)) == ("inbox_2027w01", "inbox_2026w53")
    assert live_buckets(datetime(2026, 11, 23, tzinfo=UTC), "box") == ("box_2026w48", "box_2026w47")


def test_a_mark_stays_in_a_live_bucket_for_at_least_the_minimum_retention() -> None:
    marked = datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)  # the last second of w48
    for hours in range(int(MIN_RETENTION.total_seconds() // 3600) + 1):
        assert bucket_name(marked) in live_buckets(marked + timedelta(hours=hours))


def test_only_buckets_older_than_the_previous_week_expire() -> None:
    names = [
        "inbox_2026w45",
        "inbox_2026w46",
        "inbox_2026w47",
        "inbox_2026w48",
        "inbox_2026w49",  # a replica whose clock runs ahead: not ours to drop
        "inbox_2025w52",
        "inbox",  # the legacy TTL collection, or anything else, is left alone
        "customers",
        "inbox_old",
        "other_2026w01",
    ]
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert expired_buckets(names, now) == ["inbox_2025w52", "inbox_2026w45", "inbox_2026w46"]
    assert expired_buckets(["box_2026w01", "inbox_2026w01"], now, "box") == ["box_2026w01"]
