"""Compatibility re-exports; see reconciler.apply."""

from reconciler.apply import ApplyResult, Write, apply_plan, describe

__all__ = ["ApplyResult", "Write", "apply_plan", "describe"]
