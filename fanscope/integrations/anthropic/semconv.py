"""GenAI semantic-convention names we emit, as our own strings.

The ``gen_ai`` constants of ``opentelemetry-semantic-conventions`` are deprecated there (the
GenAI conventions moved to their own repository), so the names are spelled out here, from
the OpenTelemetry GenAI semantic conventions for client spans (``gen-ai-spans.md``).
"""

from typing import Final

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION: Final = "gen_ai.usage.cache_creation.input_tokens"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
ERROR_TYPE: Final = "error.type"
HTTP_STATUS: Final = "http.response.status_code"
RESEND_COUNT: Final = "http.request.resend_count"
EVENT_CLIENT_RETRY: Final = "fanscope.genai.retry"
"""Event on the GenAI span: an HTTP attempt of the call failed and the client retries it."""
TIME_TO_FIRST_TOKEN: Final = "fanscope.genai.time_to_first_token_s"
"""double: seconds from the request to the first streamed text (fanscope's own attribute)."""

CAPTURE_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
