"""Typed errors of the egress package.

Every refusal names the rule that refused (``rule``) and says why
(``reason``). Messages and reasons never contain a secret value: they name
hosts, ports, methods and secret *names* only.

:func:`to_handler_error` maps these to the sandbox's ``HandlerError`` with a
stable ``type``, so the guest raises a matching exception
(``tenantflow.guest.EgressDenied`` and friends).
"""

from __future__ import annotations

from tenantflow.sandbox import HandlerError


class EgressError(Exception):
    """Root of egress errors. ``code`` is the stable type the guest sees."""

    code = "EgressError"

    def __init__(self, reason: str, *, rule: str = "") -> None:
        super().__init__(f"{rule}: {reason}" if rule else reason)
        self.reason = reason
        self.rule = rule

    def guest_message(self) -> str:
        """The message sent to the guest; ``[rule] reason`` so the guest can parse it."""
        return f"[{self.rule}] {self.reason}" if self.rule else self.reason


class EgressDenied(EgressError):
    """The policy, the address guard or a credential rule refused the request."""

    code = "EgressDenied"


class PlaceholderError(EgressDenied):
    """A ``{{secret:NAME}}`` placeholder was misplaced or not bound to the host."""


class InjectionRefused(EgressDenied):
    """Credential injection was attempted under a policy that is not default-deny."""


class EgressTimeout(EgressError):
    """The upstream did not answer within the request's timeout."""

    code = "EgressTimeout"


class ResponseTooLarge(EgressError):
    """The upstream's response body exceeded the size cap."""

    code = "EgressTooLarge"


class RequestTooLarge(EgressError):
    """The guest's request body exceeded the size cap."""

    code = "EgressTooLarge"


class TooManyRedirects(EgressError):
    """The redirect chain was longer than the cap."""

    code = "EgressTooManyRedirects"


class UpstreamError(EgressError):
    """The upstream could not be reached or broke the connection."""

    code = "EgressUpstreamError"


class BadRequest(EgressError):
    """The guest's request is malformed (bad URL, bad header, bad body)."""

    code = "EgressBadRequest"


class SecretUnavailable(EgressError):
    """A credential rule names a secret the tenant does not have."""

    code = "EgressSecretUnavailable"


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted: wrong key, unknown key id or tampering."""


def to_handler_error(exc: EgressError) -> HandlerError:
    """The ``HandlerError`` a sandbox handler raises for ``exc``."""
    return HandlerError(exc.guest_message(), type=exc.code)
