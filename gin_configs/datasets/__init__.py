"""Gin configs of offline dataset collections (python -um offline.make_dataset)."""
