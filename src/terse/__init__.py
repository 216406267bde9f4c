"""terse: make chatty reasoning models safe for automation.

Thinking budgets that hold, reasoning separated from the answer for every server and
model family, typed values taken from the answer (never the reasoning), tool calls read
and validated (never a rehearsal from the reasoning), and bounded, accounted retries.
"""

from ._batch.api import BatchReport, arun_batch, run_batch
from ._client.aio import AsyncClient
from ._client.streams import AnswerStream, AsyncAnswerStream
from ._client.sync import Client
from ._core.budget import QWEN_NUDGE, Budget
from ._core.options import CallOptions
from ._core.retry import (
    DEFAULT_RETRY,
    RetryPolicy,
    retry_if_invalid,
    retry_if_no_answer,
    retry_if_transport,
    retry_if_truncated,
    wait_retry_after,
)
from ._exceptions import (
    AnswerTruncated,
    ConnectionFailed,
    ExtractionError,
    NoAnswer,
    ProtocolError,
    RateLimited,
    ResponseError,
    ResponseTooLarge,
    RetriesExhausted,
    ServerError,
    TerseError,
    ThinkingBudgetExceeded,
    ThinkingTruncated,
    TransportError,
    UsageError,
)
from ._extract.extract import Extracted, extract, extract_boxed, extract_choice, extract_details
from ._results import (
    Answer,
    AnswerDelta,
    Attempt,
    BudgetReport,
    Final,
    NewAttempt,
    Part,
    ReasoningDelta,
    ReasoningPart,
    ServerInfo,
    StreamEvent,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResult,
    ToolStep,
    Usage,
)
from ._server.dialects import DIALECTS, Dialect
from ._wire.formats import FORMATS, ThinkFormat
from ._wire.split import Delta, Split, Splitter, split, strip
from ._wire.sse import Limits
from .tools._calls import ToolCall, ToolCallError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_RETRY",
    "DIALECTS",
    "FORMATS",
    "QWEN_NUDGE",
    "Answer",
    "AnswerDelta",
    "AnswerStream",
    "AnswerTruncated",
    "AsyncAnswerStream",
    "AsyncClient",
    "Attempt",
    "BatchReport",
    "Budget",
    "BudgetReport",
    "CallOptions",
    "Client",
    "ConnectionFailed",
    "Delta",
    "Dialect",
    "Extracted",
    "ExtractionError",
    "Final",
    "Limits",
    "NewAttempt",
    "NoAnswer",
    "Part",
    "ProtocolError",
    "RateLimited",
    "ReasoningDelta",
    "ReasoningPart",
    "ResponseError",
    "ResponseTooLarge",
    "RetriesExhausted",
    "RetryPolicy",
    "ServerError",
    "ServerInfo",
    "Split",
    "Splitter",
    "StreamEvent",
    "TerseError",
    "TextPart",
    "ThinkFormat",
    "ThinkingBudgetExceeded",
    "ThinkingTruncated",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallError",
    "ToolCallPart",
    "ToolResult",
    "ToolStep",
    "TransportError",
    "Usage",
    "UsageError",
    "__version__",
    "arun_batch",
    "extract",
    "extract_boxed",
    "extract_choice",
    "extract_details",
    "retry_if_invalid",
    "retry_if_no_answer",
    "retry_if_transport",
    "retry_if_truncated",
    "run_batch",
    "split",
    "strip",
    "wait_retry_after",
]
