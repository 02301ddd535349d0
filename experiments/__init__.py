"""Pipelines that compose interp's parts into the papers' experiments (no hooks or statistics here)."""
