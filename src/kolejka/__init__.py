"""kolejka: a Thulium-compatible call-queue waiting-list service."""

__version__ = "0.1.0"
