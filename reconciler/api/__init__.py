"""The Bland API client (`BlandClient`): the only package that speaks HTTP."""

from reconciler.api.client import BlandClient as BlandClient
