"""Renderers of a Report: terminal text, Markdown (and HTML)."""
