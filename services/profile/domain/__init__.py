"""Profile rules: identity resolution, trait merging, PII masking. Pure and synchronous."""

from shared.errors import ThreadlineError


class ProfileError(ThreadlineError):
    """Root of the profile service's errors."""


class UnresolvableEventError(ProfileError):
    """An event carries nothing to resolve a customer by (no userId, anonymousId, …)."""


class InvalidIdentityError(ProfileError):
    """A value that is no identity of its type (an email that is not an address, …)."""
