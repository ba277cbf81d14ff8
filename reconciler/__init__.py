"""Declarative routing of Bland AI inbound numbers to personas."""

__version__ = "0.1.0"

__all__ = ["__version__"]
