"""The compatibility APIs' own rows (each sub-package keeps its models; they are loaded from here)."""

from compat.octopush.models import OctopushRequest

__all__ = ["OctopushRequest"]
