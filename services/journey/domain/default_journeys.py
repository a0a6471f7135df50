"""The journeys Threadline ships with: a purchase journey and a service journey.

Stages are entered by Segment's semantic events (snake_case) plus the experience
signals of DESIGN.md §4; operators publish new versions in the catalog to change them.
"""

from __future__ import annotations

from services.journey.domain.journeys import Condition, Journey, JourneyCatalog, Match, Stage

PURCHASE = Journey(
    id="purchase",
    version=1,
    name="Purchase",
    stages=(
        Stage(
            "awareness",
            "Awareness",
            (
                Match(kinds=("page", "screen")),
                Match(
                    events=(
                        "promotion_viewed",
                        "promotion_clicked",
                        "email_opened",
                        "email_link_clicked",
                        "products_searched",
                        "product_list_viewed",
                    )
                ),
            ),
        ),
        Stage(
            "consideration",
            "Consideration",
            (
                Match(
                    events=(
                        "product_viewed",
                        "product_clicked",
                        "product_added",
                        "product_added_to_wishlist",
                        "cart_viewed",
                        "checkout_started",
                        "store_visited",
                    )
                ),
            ),
        ),
        Stage("purchase", "Purchase", (Match(events=("order_completed",)),)),
        Stage(
            "retention",
            "Onboarding / retention",
            (
                Match(
                    events=(
                        "product_registered",
                        "onboarding_completed",
                        "subscription_started",
                        "loyalty_program_joined",
                    )
                ),
            ),
        ),
        Stage(
            "advocacy",
            "Advocacy",
            (
                Match(events=("product_reviewed", "product_shared", "referral_sent")),
                Match(
                    events=("survey_answered",),
                    where=(Condition("survey", "eq", "nps"), Condition("score", "gte", 9)),
                ),
            ),
        ),
    ),
)

SERVICE = Journey(
    id="service",
    version=1,
    name="Service",
    stages=(
        Stage(
            "contact", "Contact", (Match(events=("support_ticket_opened", "support_contacted")),)
        ),
        Stage(
            "diagnosis",
            "Diagnosis",
            (
                Match(
                    events=(
                        "support_ticket_assigned",
                        "support_ticket_escalated",
                        "support_diagnosis_completed",
                    )
                ),
            ),
        ),
        Stage("resolution", "Resolution", (Match(events=("support_ticket_resolved",)),)),
        Stage(
            "follow_up",
            "Follow-up",
            (
                Match(events=("support_ticket_closed", "support_follow_up_sent")),
                Match(
                    events=("survey_answered",),
                    where=(Condition("survey", "in", ("csat", "ces", "nps")),),
                ),
            ),
        ),
    ),
    restarts_after="resolution",
)

DEFAULT_CATALOG = JourneyCatalog((PURCHASE, SERVICE))
