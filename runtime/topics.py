"""Topic names and their creation: one topic per modality, then verdicts, dead letters and conveyance
decisions."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from smartcustoms.core.types import Modality

log = logging.getLogger(__name__)


def frames_topic(namespace: str, modality: Modality) -> str:
    return f"{namespace}.frames.{modality.value}"


def verdicts_topic(namespace: str) -> str:
    return f"{namespace}.verdicts"


def dead_letter_topic(namespace: str) -> str:
    return f"{namespace}.deadletter"


def conveyances_topic(namespace: str) -> str:
    """Decisions of the fusion stage, one ConveyanceDecision per message, keyed by conveyance id."""
    return f"{namespace}.conveyances"


def all_topics(namespace: str) -> list[str]:
    return [
        *(frames_topic(namespace, m) for m in Modality),
        verdicts_topic(namespace),
        dead_letter_topic(namespace),
        conveyances_topic(namespace),
    ]


async def ensure_topics(bootstrap_servers: str, names: list[str], partitions: int) -> None:
    """Create the topics that do not exist yet (idempotent; safe with several gateways)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="smartcustoms-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
    finally:
        await admin.close()
