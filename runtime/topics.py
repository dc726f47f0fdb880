"""Topic names and their creation: one topic per modality, then verdicts, dead letters and conveyance
decisions; and the stream workers' consumer group, with the clean-up of members that died."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.admin import DescribeGroupsRequest
from aiokafka.protocol.group import LeaveGroupRequest

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


def worker_group(namespace: str) -> str:
    """The stream workers' consumer group (the Faust app id)."""
    return f"{namespace}-worker"


def worker_client_id(namespace: str, host: str | None = None, pid: int | None = None) -> str:
    """A worker's Kafka client id: it names the host and the process, and brokers begin the member id
    they give the worker's consumer with it (``<client id>-<uuid>``)."""
    return f"{worker_group(namespace)}.{host or socket.gethostname()}.{pid or os.getpid()}"


async def leave_for_dead_workers(bootstrap_servers: str, namespace: str, timeout_s: float = 5.0) -> list[str]:
    """Take out of the workers' group the members of worker processes of this host that are dead.

    A SIGKILLed worker cannot leave its group: the broker keeps it until its session times out, and a
    new worker's join waits for that (on tansu a follower also pauses 3 s per join). Any client may send
    LeaveGroup for a member id, so the new worker does it for its dead predecessors: members whose
    client id names this host and a process that no longer runs (or this very process, which has not
    joined yet). Best effort: on any error the broker's session timeout does the job as before.
    Returns the member ids taken out.
    """
    try:
        return await asyncio.wait_for(_leave_for_dead(bootstrap_servers, namespace), timeout_s)
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("could not take dead workers out of the consumer group: %r", error)
        return []


async def _leave_for_dead(bootstrap_servers: str, namespace: str) -> list[str]:
    group = worker_group(namespace)
    mine = re.compile(re.escape(f"{group}.{socket.gethostname()}.") + r"(\d+)-")  # worker_client_id's
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, client_id="smartcustoms-admin")
    await client.bootstrap()
    try:
        node = await client.coordinator_lookup(CoordinationType.GROUP, group)
        described = await client.send(node, DescribeGroupsRequest([group]))
        members = [member[0] for found in described.groups for member in found[5]]  # member_id first
        dead = [m for m in members if (match := mine.match(m)) and not _other_live_process(int(match[1]))]
        for member_id in dead:
            await client.send(node, LeaveGroupRequest(group, member_id))
            log.warning("took dead worker %s out of consumer group %s", member_id, group)
        return dead
    finally:
        await client.close()


def _other_live_process(pid: int) -> bool:
    """Whether ``pid`` is a running process other than this one (a zombie is dead)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
