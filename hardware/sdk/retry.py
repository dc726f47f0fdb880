"""When the vendor SDK tries again: bounded exponential backoff with jitter, and which codes are transient.

Two kinds of failure reach a client. A *stream* failure (the gateway restarted, the connection was
reset, the channel is UNAVAILABLE) loses every ack still on the way, so the client reconnects and
resends every frame not yet acknowledged; the gateway's idempotency on (source_id, sequence) turns a
resend of a frame it had already accepted into an OK ack with ``duplicate`` set. A *frame* failure is an
ack with a non-OK code: final, except UNAVAILABLE (the gateway's ledger was unreachable) and push-back
(RESOURCE_EXHAUSTED with ``retry_after_ms``: too many frames await verdicts), which are sent again, the
latter after at least the delay the gateway asked for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

# A stream that ends with one of these is worth reopening: the gateway or the network went away.
RETRYABLE_STREAM_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,  # the server cancelled the call (a gateway stopping after its grace)
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,  # e.g. RST_STREAM from a dying connection
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

# A frame acknowledged with one of these is sent again; any other non-OK code is the frame's answer.
RETRYABLE_ACK_CODES = frozenset({grpc.StatusCode.UNAVAILABLE.value[0]})
# ... and so is one with this code that carries a ``retry_after_ms``: the gateway pushing back.
PUSH_BACK = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts: ``initial_backoff_s * multiplier ** (attempt - 1)``, at most
    ``max_backoff_s``, each delay drawn uniformly from its last ``jitter`` fraction so that many devices
    reconnecting after one gateway restart do not arrive in step.

    ``max_attempts`` bounds consecutive failed attempts (of one connection, or of one frame answered
    UNAVAILABLE); None retries until the client is closed, whose deadline then bounds the wait.
    """

    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError("need 0 < initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("need multiplier >= 1 and 0 <= jitter <= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None: no limit)")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """How long to wait before attempt number ``attempt + 1`` after ``attempt`` failures (1, 2, ...)."""
        exponent = min(max(attempt - 1, 0), 64)  # past 2**64 every delay is the ceiling anyway
        ceiling_s = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**exponent)
        draw = (rng or random).random()
        return ceiling_s * (1.0 - self.jitter * draw)

    def gives_up_after(self, attempt: int) -> bool:
        """True once ``attempt`` consecutive failures exhaust ``max_attempts``."""
        return self.max_attempts is not None and attempt >= self.max_attempts


def retryable_stream_code(code: grpc.StatusCode | None) -> bool:
    """True for a stream status after which reconnecting and resending can succeed."""
    return code in RETRYABLE_STREAM_CODES
