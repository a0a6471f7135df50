"""Profile rules: identity resolution, trait merging, PII masking. Pure and synchronous."""

from shared.errors import ThreadlineError


class ProfileError(ThreadlineError):
    """Root of the profile service's errors."""


class UnresolvableEventError(ProfileError):
    """An event carries nothing to resolve a customer by (no userId, anonymousId, …)."""
