"""Who is fetching, under which policy and rules: the :class:`EgressContext` of one run.

Create one per sandbox run (or session) and pass it to
:meth:`EgressProxy.fetch <tenantflow.egress.proxy.EgressProxy.fetch>` or
:meth:`EgressProxy.handlers`. It caches the secret values it has read for the
run's lifetime, and every value it has read is scrubbed from every later
response of that run, not only from the response of the request it was
injected into.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tenantflow.egress.audit import AuditSink
from tenantflow.egress.errors import SecretUnavailable
from tenantflow.egress.inject import CredentialRule
from tenantflow.egress.models import EgressLimits
from tenantflow.egress.policy import EgressPolicy
from tenantflow.egress.redact import Redactor
from tenantflow.egress.secrets import SecretSource


@dataclass(eq=False, repr=False)
class EgressContext:
    """The tenant, instance or session, effective policy, rules, secrets and audit sink."""

    tenant: str
    policy: EgressPolicy
    secrets: SecretSource
    audit: AuditSink
    rules: Sequence[CredentialRule] = ()
    instance: str | None = None
    session: str | None = None
    limits: EgressLimits | None = None
    """Overrides the proxy's limits for this run."""
    deadline: float | None = None
    """``time.monotonic()`` past which no request of this run may still be running (set it
    to the run's wall deadline, so a slow upstream never outlives the sandbox run)."""
    _values: dict[str, str] = field(default_factory=dict, init=False)
    _extra: set[str] = field(default_factory=set, init=False)
    _redactor: Redactor = field(default_factory=Redactor, init=False)

    def __repr__(self) -> str:
        return (
            f"EgressContext(tenant={self.tenant!r}, instance={self.instance!r}, "
            f"session={self.session!r}, rules={[r.name for r in self.rules]!r})"
        )

    async def secret_values(self, names: Iterable[str]) -> dict[str, str]:
        """The values of ``names``, read once per run from the secret source."""
        out: dict[str, str] = {}
        fresh = False
        for name in names:
            if name not in self._values:
                try:
                    self._values[name] = await self.secrets.get(name)
                except KeyError:
                    raise SecretUnavailable(
                        f"secret {name!r} used by a credential rule does not exist",
                        rule="inject.secret_missing",
                    ) from None
                fresh = True
            out[name] = self._values[name]
        if fresh:
            self._rebuild()
        return out

    def add_redactions(self, values: Iterable[str]) -> None:
        """Also scrub ``values`` (for example ``user:password`` of basic auth)."""
        new = set(values) - self._extra
        if new:
            self._extra |= new
            self._rebuild()

    @property
    def redactor(self) -> Redactor:
        """Scrubs every secret value this run has read."""
        return self._redactor

    def _rebuild(self) -> None:
        self._redactor = Redactor([*self._values.values(), *self._extra])
