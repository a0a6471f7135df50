"""Journey rules. Pure and synchronous: values in, decisions and events out.

- ``touchpoints``, ``timeline``: the timeline a customer's page shows, and its cursors.
- ``interactions``: events as journey analytics reads them (name, channel, properties).
- ``journeys``, ``default_journeys``: versioned journey definitions; purchase and service.
- ``stages``: current stage, stage history and time in stage; stage change events.
- ``handoffs``: cross-channel handoffs within a journey; continuity rate.
- ``rekeying``: customer merged, split, erased.
- ``funnels``, ``paths``, ``stage_metrics``, ``percentiles``, ``attribution``: analytics.
- ``frictions``, ``friction_detectors``: pain points with evidence; the pain-point map.
- ``triggers``: rules that fire on stages, frictions and inactivity, once per occurrence.
- ``definitions``: journey definitions and trigger rules as documents (stored, and given
  through the graph), read with errors that name the field.
- ``projection``: one customer's journey state recomputed from all their interactions, and
  what is new since the stored state (stages entered, frictions, triggers due).
- ``published``: the ``journey.*`` CloudEvents, with ids derived from their causes.
"""

from shared.errors import ThreadlineError


class JourneyError(ThreadlineError):
    """Root of the journey service's errors."""


class InvalidCursorError(JourneyError):
    """A pagination cursor that this service did not issue."""
