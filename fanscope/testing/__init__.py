"""fanscope.testing."""
