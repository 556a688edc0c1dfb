"""fanscope.integrations."""
