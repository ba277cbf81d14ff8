"""The Bland API client: the only package that speaks HTTP."""

__all__: list[str] = []
