"""Compatibility re-exports; see reconciler.api."""

from reconciler.api import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, BlandClient, check_base_url

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "BlandClient", "check_base_url"]
