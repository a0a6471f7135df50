"""Identity resolution rules: merges, refused links, blocked values, limits, caps.

The property test compares :func:`resolve` with a brute-force oracle: of every
subset of the event's usable identifiers that obeys the rules, the best one
(strongest identifiers first), its survivor by the stated order.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.profile.domain import UnresolvableEventError
from services.profile.domain.identity import Identity, new_customer_id
from services.profile.domain.resolution import OwnerProfile, Resolution, resolve
from services.profile.domain.resolution_rules import (
    DEFAULT_RULES,
    Limit,
    ResolutionRules,
    ResolutionRulesError,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ANON = Identity("anonymous_id", "anon-1")
USER = Identity("user_id", "user-1")
EMAIL = Identity("email", "jo@example.com")
LOYALTY = Identity("loyalty_id", "L-77")
PHONE = Identity("phone", "+49301234567")


def profile(
    cid: str, *identities: Identity, first: datetime = NOW, merges: int = 0
) -> OwnerProfile:
    return OwnerProfile(cid, dict.fromkeys(identities, first), merges, first)


def decide(
    identities: Sequence[Identity],
    profiles: Sequence[OwnerProfile],
    rules: ResolutionRules = DEFAULT_RULES,
    event: str = "evt",
) -> Resolution:
    owners = {i: p.customer_id for p in profiles for i in p.identities}
    by_id = {p.customer_id: p for p in profiles}
    return resolve(event, identities, owners, by_id, rules, NOW)


def test_unknown_identities_create_a_customer_owning_all_of_them():
    resolution = decide([ANON, EMAIL], [])

    assert resolution.created
    assert resolution.customer_id == new_customer_id("evt")
    assert set(resolution.attached) == {ANON, EMAIL}


def test_login_attaches_the_user_id_to_the_anonymous_browsers_customer():
    resolution = decide([USER, ANON], [profile("browser", ANON)])

    assert (resolution.customer_id, resolution.attached, resolution.merged) == (
        "browser",
        (USER,),
        (),
    )


def test_an_event_pointing_at_two_customers_merges_them_into_the_strongest():
    resolution = decide(
        [ANON, USER, EMAIL], [profile("device", ANON), profile("known", USER, first=NOW)]
    )

    assert resolution.customer_id == "known"
    assert resolution.merged == ("device",)
    assert resolution.attached == (EMAIL,)
    assert resolution.refused == ()


def test_two_different_user_ids_never_merge_and_the_weaker_identifier_is_not_linked():
    other = Identity("user_id", "user-2")
    resolution = decide([USER, EMAIL], [profile("a", USER), profile("b", other, EMAIL)])

    assert resolution.customer_id == "a"
    assert resolution.merged == ()
    [refusal] = resolution.refused
    assert (refusal.identity, refusal.owner) == (EMAIL, "b")
    assert "at most 1 user_id" in refusal.reason


def test_a_shared_kiosk_keeps_two_people_apart_and_the_anonymous_id_with_its_first_owner():
    kiosk = Identity("anonymous_id", "kiosk-7")
    first = profile("ann", kiosk, Identity("user_id", "ann"), Identity("email", "ann@x.io"))

    resolution = decide(
        [kiosk, Identity("user_id", "bob"), Identity("email", "bob@x.io")], [first], event="b1"
    )

    assert resolution.created
    assert resolution.customer_id == new_customer_id("b1")
    assert set(resolution.attached) == {Identity("user_id", "bob"), Identity("email", "bob@x.io")}
    [refusal] = resolution.refused
    assert (refusal.identity, refusal.owner) == (kiosk, "ann")
    assert "anonymous id alone" in refusal.reason


def test_an_anonymous_id_alone_does_not_merge_two_known_customers():
    shared = Identity("anonymous_id", "shared")
    resolution = decide([shared, EMAIL], [profile("a", shared, LOYALTY), profile("b", EMAIL)])

    assert (resolution.customer_id, resolution.merged) == ("b", ())
    assert [r.identity for r in resolution.refused] == [shared]


@pytest.mark.parametrize("value", ["null", "undefined", "Anonymous", "0", "-1"])
def test_placeholder_values_never_match(value):
    placeholder = Identity("anonymous_id", value)
    resolution = decide([placeholder, USER], [profile("someone-else", placeholder)])

    assert resolution.created
    assert resolution.attached == (USER,)
    assert [r.identity for r in resolution.refused] == [placeholder]


def test_an_event_with_only_blocked_values_cannot_be_resolved_and_says_why():
    with pytest.raises(UnresolvableEventError, match="placeholder values"):
        decide([Identity("email", "test@example.com")], [])


def test_configured_patterns_block_values_of_their_type():
    rules = ResolutionRules.of(blocked_patterns={"email": [r"@mailinator\.com$"]})
    throwaway = Identity("email", "x@mailinator.com")

    resolution = decide([USER, throwaway], [], rules)

    assert resolution.attached == (USER,)
    assert "blocked pattern" in resolution.refused[0].reason


def test_anonymous_ids_are_limited_per_window_and_older_ones_do_not_count():
    old = [Identity("anonymous_id", f"old-{n}") for n in range(5)]
    recent = [Identity("anonymous_id", f"new-{n}") for n in range(4)]
    customer = OwnerProfile(
        "c",
        {USER: NOW, **dict.fromkeys(old, NOW - timedelta(days=30)), **dict.fromkeys(recent, NOW)},
    )
    fifth, sixth = Identity("anonymous_id", "fifth"), Identity("anonymous_id", "sixth")

    assert decide([USER, fifth], [customer]).attached == (fifth,)
    resolution = decide([USER, fifth, sixth], [customer])
    assert resolution.attached == (fifth,)
    assert "at most 5 anonymous_id per 7 days" in resolution.refused[0].reason


def test_merge_and_identifier_caps_refuse_the_link():
    rules = ResolutionRules.of(max_merges=3, max_identifiers=3)
    many = profile("many", USER, first=NOW - timedelta(days=1), merges=3)

    merged = decide([USER, EMAIL], [many, profile("other", EMAIL)], rules)
    assert merged.merged == ()
    assert "at most 3 merges" in merged.refused[0].reason

    full = profile("full", USER, EMAIL, LOYALTY)
    assert "at most 3 identifiers" in decide([USER, PHONE], [full], rules).refused[0].reason


def test_customers_an_operator_split_apart_are_not_merged_again_by_an_event():
    split_from = OwnerProfile("a", {EMAIL: NOW}, apart=frozenset({"b"}))
    split_off = OwnerProfile("b", {PHONE: NOW}, apart=frozenset({"a"}))

    resolution = decide([EMAIL, PHONE], [split_from, split_off])

    assert (resolution.customer_id, resolution.merged) == ("a", ())
    assert "an operator split" in resolution.refused[0].reason


def test_priority_is_configurable():
    rules = ResolutionRules.of(priority=["email", "user_id", "phone", "*", "anonymous_id"])
    resolution = decide(
        [USER, EMAIL], [profile("by-user", USER), profile("by-email", EMAIL)], rules
    )

    assert resolution.customer_id == "by-email"
    assert resolution.merged == ("by-user",)


def test_limits_are_read_from_their_text_form_and_bad_ones_say_how_to_fix_them():
    rules = ResolutionRules.of(limits={"user_id": "1", "anonymous_id": "10/2w"})
    assert rules.limits["anonymous_id"] == Limit(10, timedelta(weeks=2))
    with pytest.raises(ResolutionRulesError, match="`5/7d`"):
        ResolutionRules.of(limits={"anonymous_id": "five a week"})


def test_reprocessing_the_creating_event_reports_the_same_creation():
    first = decide([ANON, EMAIL], [], event="evt-5")
    again = decide([ANON, EMAIL], [profile(first.customer_id, ANON, EMAIL)], event="evt-5")

    assert again.customer_id == first.customer_id
    assert again.created


# --- the oracle -------------------------------------------------------------------------

TYPES = ["user_id", "email", "phone", "loyalty_id", "anonymous_id"]
identity_strategy = st.builds(Identity, st.sampled_from(TYPES), st.sampled_from(["a", "b", "c"]))
ORACLE_RULES = ResolutionRules.of(
    limits={"user_id": "1", "email": "2", "anonymous_id": "2/7d"}, max_merges=3, max_identifiers=6
)


def _valid(
    chosen: Sequence[Identity],
    owners: Mapping[Identity, str],
    profiles: Mapping[str, OwnerProfile],
    rules: ResolutionRules,
) -> bool:
    """Whether linking ``chosen`` (and merging their owners) breaks no rule — by definition."""
    customers = {owners[i] for i in chosen if i in owners}
    new = {i: NOW for i in chosen if i not in owners}
    combined = dict(new)
    for cid in customers:
        combined.update(profiles[cid].identities)
    if len(customers) + len(new) > 1:
        if not _obeys_limits(combined, rules):
            return False
        if sum(profiles[c].merges for c in customers) + len(customers) - 1 > rules.max_merges:
            return False
    for cid in customers:
        via = [i for i in chosen if owners.get(i) == cid]
        rest = set(new) | {i for c in customers - {cid} for i in profiles[c].identities}
        if (
            all(i.type == "anonymous_id" for i in via)
            and profiles[cid].known
            and any(i.type != "anonymous_id" for i in rest)
        ):
            return False
    return True


def _obeys_limits(identities: Mapping[Identity, datetime], rules: ResolutionRules) -> bool:
    for kind, limit in rules.limits.items():
        counted = [
            i for i, first in identities.items()
            if i.type == kind and (limit.window is None or first > NOW - limit.window)
        ]  # fmt: skip
        if len(counted) > limit.count:
            return False
    return len(identities) <= rules.max_identifiers


def _oracle(
    identities: Sequence[Identity],
    owners: Mapping[Identity, str],
    profiles: Mapping[str, OwnerProfile],
    rules: ResolutionRules,
) -> list[Identity]:
    usable = sorted(set(identities), key=rules.order)
    best: tuple[bool, ...] | None = None
    chosen_best: list[Identity] = []
    for mask in itertools.product([True, False], repeat=len(usable)):
        chosen = [i for i, keep in zip(usable, mask, strict=True) if keep]
        if chosen and _valid(chosen, owners, profiles, rules) and (best is None or mask > best):
            best, chosen_best = mask, chosen
    return chosen_best


@st.composite
def worlds(draw):
    owners = draw(
        st.dictionaries(identity_strategy, st.sampled_from(["c1", "c2", "c3"]), max_size=8)
    )
    firsts = {i: NOW - timedelta(days=draw(st.sampled_from([0, 3, 30]))) for i in owners}
    profiles = {
        cid: OwnerProfile(
            cid,
            {i: firsts[i] for i, o in owners.items() if o == cid},
            merges=draw(st.integers(0, 2)),
            first_seen=NOW - timedelta(days=draw(st.integers(0, 3))),
        )
        for cid in set(owners.values())
    }
    identities = draw(st.lists(identity_strategy, min_size=1, max_size=6))
    return identities, owners, profiles


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_resolution_links_the_best_rule_abiding_set_of_identifiers_found_by_brute_force(world):
    identities, owners, profiles = world
    # Each stored customer obeys the rules on its own, as resolution keeps them.
    assume(all(_obeys_limits(p.identities, ORACLE_RULES) for p in profiles.values()))
    event_owners = {i: owners[i] for i in identities if i in owners}

    resolution = resolve("evt", identities, event_owners, profiles, ORACLE_RULES, NOW)

    expected = _oracle(identities, owners, profiles, ORACLE_RULES)
    linked = set(resolution.attached) | {
        i for i in identities if owners.get(i) in {resolution.customer_id, *resolution.merged}
    }
    assert linked == set(expected)
    assert {r.identity for r in resolution.refused} == set(identities) - set(expected)
    customers = {owners[i] for i in expected if i in owners}
    if customers:
        strongest = min(
            customers,
            key=lambda c: (
                min(ORACLE_RULES.rank(i) for i in profiles[c].identities),
                profiles[c].first_seen,
                c,
            ),
        )
        assert resolution.customer_id == strongest
        assert set(resolution.merged) == customers - {strongest}
    else:
        assert resolution.created
    assert resolve(
        "evt", list(reversed(identities)), event_owners, profiles, ORACLE_RULES, NOW
    ) == (resolution)


def test_rules_are_configured_through_threadline_identity_settings(monkeypatch):
    from services.profile.bootstrap import resolution_rules
    from shared.settings import Settings

    monkeypatch.setenv("THREADLINE_IDENTITY_LIMITS", '{"user_id": "1", "anonymous_id": "3/1d"}')
    monkeypatch.setenv("THREADLINE_IDENTITY_BLOCKED_VALUES", "nobody, N/A")
    monkeypatch.setenv("THREADLINE_IDENTITY_BLOCKED_PATTERNS", '{"phone": ["^\\\\+1555"]}')
    monkeypatch.setenv("THREADLINE_IDENTITY_PRIORITY", "email,user_id,phone,*,anonymous_id")
    monkeypatch.setenv("THREADLINE_IDENTITY_MAX_MERGES", "7")

    rules = resolution_rules(Settings())

    assert rules.limits == {"user_id": Limit(1), "anonymous_id": Limit(3, timedelta(days=1))}
    assert rules.blocked(Identity("user_id", "n/a")) is not None
    assert rules.blocked(Identity("user_id", "null")) is None  # the list replaces the defaults
    assert rules.blocked(Identity("phone", "+15550100")) is not None
    assert rules.rank(EMAIL) < rules.rank(USER)
    assert rules.max_merges == 7
