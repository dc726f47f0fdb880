"""The enquiry service: the gateway's ``EnquiryService`` and the chat page's desk.

``EnquiryDesk.ask`` answers a question with the ``enquiry`` plugin's assistant (in a thread: retrieval
is CPU work), then turns it into an ``enquiry`` record frame and hands it to a ``RecordSink``. In the
gateway that sink is the ingest path itself (``GatewayRecordSink``: ledger first, then the records
topic, the reconciler republishing what did not go out), so a question is a record like any other and
the ``enquiry`` analytics plugin counts it on the stream. ``MemoryRecordSink`` is the fake twin for unit
tests. A record that cannot be made durable does not lose the answer: the caller still gets it, and the
failure is logged and counted by the gateway's sensor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence

import grpc
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.metrics import ENQUIRIES, ENQUIRY_TOPICS
from smartcustoms.core.state import RedisState
from smartcustoms.plugins.enquiry.analytics import LANGUAGES, OUTCOMES
from smartcustoms.plugins.enquiry.assistant import (
    ENQUIRY_KIND,
    HANDOVER_TOPIC,
    Answer,
    EnquiryAssistant,
    enquiry_record,
)
from smartcustoms.plugins.enquiry.knowledge import knowledge_topics
from smartcustoms.plugins.enquiry.text import QuestionError
from smartcustoms.runtime.gateway import GatewayCore
from smartcustoms.runtime.record_sink import GatewayRecordSink, RecordSink, records_frame
from smartcustoms.v1 import enquiry_pb2, enquiry_pb2_grpc, frame_pb2

log = logging.getLogger(__name__)

SOURCE_ID = "enquiry-desk"
MAX_CHANNEL_CHARS = 32


def record_frame(record: frame_pb2.Record, control_point: str = "") -> frame_pb2.Frame:
    """A MODALITY_RECORD frame holding one enquiry record, under the record's id."""
    return records_frame(record.record_id, SOURCE_ID, ENQUIRY_KIND, [record], control_point)


WARM_UP_QUESTION = "How much cash must I declare?"  # answered at start-up, never recorded


class EnquiryDesk:
    """Answers questions and records each one on the stream.

    The assistant (the knowledge base, its index and jieba's dictionary: a few seconds of CPU) is built
    in a thread on the first question, or by ``warm_up``, so a gateway that is never asked anything
    does not pay for it.
    """

    def __init__(
        self,
        assistant: EnquiryAssistant | Callable[[], EnquiryAssistant],
        sink: RecordSink,
        control_point: str = "",
    ) -> None:
        self._assistant = assistant if isinstance(assistant, EnquiryAssistant) else None
        self._build = assistant if not isinstance(assistant, EnquiryAssistant) else None
        self._building = asyncio.Lock()
        self.sink = sink
        self.control_point = control_point

    async def assistant(self) -> EnquiryAssistant:
        if self._assistant is None:
            async with self._building:
                if self._assistant is None and self._build is not None:
                    self._assistant = await asyncio.to_thread(self._build)
        assert self._assistant is not None
        return self._assistant

    async def warm_up(self) -> None:
        """Build the assistant and answer one question off the record: the encoder's first call (and the
        libraries it imports on first use) is paid here, not by the first traveller."""
        assistant = await self.assistant()
        await asyncio.to_thread(assistant.ask, WARM_UP_QUESTION, "en")

    async def ask(
        self, question: object, language: str = "", channel: str = "api", session_id: str = ""
    ) -> tuple[Answer, str]:
        """The answer and its record id; QuestionError for bad input (nothing is recorded then)."""
        assistant = await self.assistant()
        answer = await asyncio.to_thread(assistant.ask, question, language or None)
        record_id = f"enq-{uuid.uuid4().hex}"
        record = enquiry_record(
            answer,
            record_id,
            dt.datetime.now(dt.UTC),
            channel=_clean(channel, "api"),
            session_id=_clean(session_id, "")[:64],
        )
        try:
            await self.sink.publish(record_frame(record, self.control_point))
        except Exception as error:  # the traveller still gets the answer; the record is what is lost
            log.warning("enquiry record %s not recorded: %r", record_id, error)
            return answer, ""
        if answer.handed_over:
            log.warning("enquiry %s handed over to an officer: %s", record_id, answer.question[:200])
        return answer, record_id


def _clean(text: str, default: str) -> str:
    kept = "".join(c for c in text if c.isalnum() or c in "-_.")[:MAX_CHANNEL_CHARS]
    return kept or default


def enquiry_desk(core: GatewayCore) -> EnquiryDesk:
    """The gateway's desk: the packaged knowledge base, records through the ingest path."""
    return EnquiryDesk(EnquiryAssistant, GatewayRecordSink(core), core.config.control_point)


class EnquiryServicer(enquiry_pb2_grpc.EnquiryServiceServicer):
    """``smartcustoms.v1.EnquiryService``."""

    def __init__(self, desk: EnquiryDesk) -> None:
        self.desk = desk

    async def Ask(
        self, request: enquiry_pb2.AskRequest, context: grpc.aio.ServicerContext
    ) -> enquiry_pb2.AskResponse:
        try:
            answer, record_id = await self.desk.ask(
                request.question, request.language, request.channel or "api", request.session_id
            )
        except QuestionError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            raise AssertionError("unreachable: abort raises") from error
        return ask_response(answer, record_id)


def ask_response(answer: Answer, record_id: str) -> enquiry_pb2.AskResponse:
    return enquiry_pb2.AskResponse(
        answer=answer.text,
        source=answer.source,
        confidence=answer.confidence,
        handed_over=answer.handed_over,
        entry_id=answer.entry_id,
        language=answer.language,
        answer_language=answer.answer_language,
        record_id=record_id,
        knowledge_version=answer.knowledge_version,
    )


def add_enquiry_service(server: grpc.aio.Server, core: GatewayCore) -> EnquiryDesk:
    """Host ``EnquiryService`` on the gateway's server; the desk is returned for the chat page."""
    desk = enquiry_desk(core)
    enquiry_pb2_grpc.add_EnquiryServiceServicer_to_server(EnquiryServicer(desk), server)  # type: ignore[no-untyped-call]  # generated, untyped
    return desk


class EnquiryCollector(Collector):
    """Exports the enquiry plugin's running totals (``smartcustoms_enquiries_total`` by language and
    outcome, ``smartcustoms_enquiry_topic_questions_total`` by topic) at scrape time."""

    def __init__(self, redis_url: str, namespace: str, topics: Sequence[str] = ()) -> None:
        import redis as sync_redis

        self._state = RedisState(
            sync_redis.Redis.from_url(redis_url, socket_timeout=2.0),
            plugin_state_prefix(namespace, "enquiry"),
        )
        self._topics = [*(topics or knowledge_topics()), HANDOVER_TOPIC]

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        pairs = [(lang, outcome) for lang in LANGUAGES for outcome in OUTCOMES]
        keys = [f"all:{lang}:{outcome}" for lang, outcome in pairs] + [f"all:topic:{t}" for t in self._topics]
        values = self._state.get_many(keys)  # a RedisError is the gateway's RedisCollectors' to report
        asked = CounterMetricFamily(ENQUIRIES.name, ENQUIRIES.documentation, labels=list(ENQUIRIES.labels))
        for (lang, outcome), value in zip(pairs, values, strict=False):
            asked.add_metric([lang, outcome], float(value or 0))
        topics = CounterMetricFamily(
            ENQUIRY_TOPICS.name, ENQUIRY_TOPICS.documentation, labels=list(ENQUIRY_TOPICS.labels)
        )
        for topic, value in zip(self._topics, values[len(pairs) :], strict=True):
            topics.add_metric([topic], float(value or 0))
        yield asked
        yield topics


def enquiry_line(redis_url: str, namespace: str) -> str:
    """The demo's line: questions the enquiry plugin counted, by language and outcome, top topics."""
    import redis as sync_redis

    state = RedisState(sync_redis.Redis.from_url(redis_url), plugin_state_prefix(namespace, "enquiry"))
    topics = [*knowledge_topics(), HANDOVER_TOPIC]
    try:
        pairs = [(lang, outcome) for lang in LANGUAGES for outcome in OUTCOMES]
        values = state.get_many([f"all:{lang}:{o}" for lang, o in pairs] + [f"all:topic:{t}" for t in topics])
    finally:
        state.close()
    counts = [int(float(v or 0)) for v in values]
    by_language = {
        lang: sum(n for (lg, _), n in zip(pairs, counts, strict=False) if lg == lang) for lang in LANGUAGES
    }
    by_outcome = {o: sum(n for (_, oc), n in zip(pairs, counts, strict=False) if oc == o) for o in OUTCOMES}
    by_topic = sorted(zip(topics, counts[len(pairs) :], strict=True), key=lambda item: -item[1])
    return (
        f"enquiries: {sum(by_language.values())} questions counted by the enquiry plugin "
        f"({', '.join(f'{k} {n}' for k, n in by_language.items() if n)}): "
        f"{', '.join(f'{k.replace(chr(95), chr(32))} {n}' for k, n in by_outcome.items())}; "
        f"topics {', '.join(f'{t} {n}' for t, n in by_topic[:4] if n)}"
    )
