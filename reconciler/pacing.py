"""Compatibility re-exports; see reconciler.api."""

from reconciler.api.pacing import GROW_AFTER, AdaptiveWriteLimit, Pacer, WriteTicket

__all__ = ["GROW_AFTER", "AdaptiveWriteLimit", "Pacer", "WriteTicket"]
