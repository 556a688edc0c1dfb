"""fanscope.analysis."""
