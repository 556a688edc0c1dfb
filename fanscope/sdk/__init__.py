"""fanscope.sdk."""
