"""The acceptance tier reuses the integration tier's farm fixtures."""

from tests.integration.conftest import farm, make_farm

__all__ = ["farm", "make_farm"]
