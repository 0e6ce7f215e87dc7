"""The API test server fixtures, for tenant tests that run workflows end to end."""

from tests.api.conftest import http, shared_server

__all__ = ["http", "shared_server"]
