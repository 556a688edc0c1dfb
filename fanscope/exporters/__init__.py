"""fanscope.exporters."""
