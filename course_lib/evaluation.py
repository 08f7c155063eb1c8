"""Placeholder: filled in by the prediction-analysis work."""

__all__: list[str] = []
