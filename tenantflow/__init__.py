"""tenantflow: durable workflows and sandboxed code execution for multi-tenant platforms."""

__version__ = "0.1.0"
