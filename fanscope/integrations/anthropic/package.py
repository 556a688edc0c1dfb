"""The ``anthropic`` versions supported (``opentelemetry-instrument`` reads this)."""

_instruments = ("anthropic >= 1.14",)
_supports_metrics = False
