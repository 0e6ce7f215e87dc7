"""Worker tests share the engine fixtures."""

from tests.engine.conftest import env

__all__ = ["env"]
