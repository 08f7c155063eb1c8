"""Placeholder: filled in by the feature-visualisation work."""

__all__: list[str] = []
