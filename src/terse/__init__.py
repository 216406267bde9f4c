"""terse: make chatty reasoning models safe for automation.

Thinking budgets that hold, reasoning separated from the answer for every server and
model family, typed values taken from the answer (never the reasoning), and bounded,
accounted retries.
"""

from ._exceptions import (
    AnswerTruncated,
    ConnectionFailed,
    ExtractionError,
    NoAnswer,
    ProtocolError,
    RateLimited,
    ResponseError,
    RetriesExhausted,
    ServerError,
    TerseError,
    ThinkingBudgetExceeded,
    ThinkingTruncated,
    TransportError,
    UsageError,
)
from ._formats import FORMATS, ThinkFormat
from ._split import Delta, Split, Splitter, split, strip

__version__ = "0.1.0"

__all__ = [
    "FORMATS",
    "AnswerTruncated",
    "ConnectionFailed",
    "Delta",
    "ExtractionError",
    "NoAnswer",
    "ProtocolError",
    "RateLimited",
    "ResponseError",
    "RetriesExhausted",
    "ServerError",
    "Split",
    "Splitter",
    "TerseError",
    "ThinkFormat",
    "ThinkingBudgetExceeded",
    "ThinkingTruncated",
    "TransportError",
    "UsageError",
    "__version__",
    "split",
    "strip",
]
