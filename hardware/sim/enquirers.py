"""Simulated enquirers: travellers and traders asking the enquiry assistant questions over gRPC.

Questions are put together from phrase banks per topic, in English, Traditional Chinese, Simplified
Chinese and mixed English-Chinese, with a share of questions no entry answers (they must be handed
over), a typo now and then, and more questions about allowances and currency than about cargo, as at a
control point. The phrasings are the simulator's own: none is a gold evaluation question.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

import grpc

from smartcustoms.hardware.sdk.stream import open_channel
from smartcustoms.v1 import enquiry_pb2, enquiry_pb2_grpc

if TYPE_CHECKING:
    from smartcustoms.hardware.sim.devices import DeviceStats

# topic -> (weight, English, Traditional Chinese, Simplified Chinese, mixed)
QUESTIONS: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "liquor": (
        3.0,
        (
            "how much brandy may I carry in tax free",
            "duty free limit on whisky",
            "litres of spirits allowed per adult",
        ),
        ("每人可以免稅帶幾多烈酒", "洋酒免稅限額係幾多"),
        ("每人可以免税带多少烈酒", "洋酒免税限额是多少"),
        ("whisky 免稅額係幾多",),
    ),
    "tobacco": (
        3.0,
        ("how many cigarettes are duty free", "cigar allowance for travellers"),
        ("香煙免稅可以帶幾多支", "雪茄免稅限額"),
        ("香烟免税可以带多少支",),
        ("cigarettes 可以帶幾多",),
    ),
    "currency": (
        2.0,
        ("do I have to declare cash over 120000", "cash declaration at the border"),
        ("帶現金入境幾多要申報", "大額現金點樣申報"),
        ("带现金入境多少要申报",),
        ("cash 要唔要申報",),
    ),
    "ecig": (
        1.0,
        ("are e-cigarettes banned in hong kong", "can I carry my vape"),
        ("電子煙可以帶入境嗎",),
        ("电子烟可以带入境吗",),
        ("vape 帶入境犯法嗎",),
    ),
    "duty": (
        1.0,
        ("how is liquor duty calculated", "tax on a bottle of cognac"),
        ("烈酒稅款點樣計",),
        ("烈酒税款怎么计算",),
        ("cognac 要交幾多稅",),
    ),
    "cargo": (
        0.5,
        ("deadline for the import declaration", "collecting freight at the air cargo terminal"),
        ("進口報關期限",),
        ("进口报关期限",),
        ("air cargo 提貨點樣排隊",),
    ),
    "off_topic": (
        1.5,
        ("where is the taxi stand", "what time is the last train", "can I change money here"),
        ("的士站喺邊度", "尾班車幾點"),
        ("出租车站在哪里",),
        ("wifi 密碼係咩",),
    ),
}
LANGUAGE_WEIGHTS = (0.45, 0.3, 0.15, 0.1)  # English, Traditional, Simplified, mixed


def question(rng: random.Random) -> str:
    """One simulated question."""
    topics = list(QUESTIONS)
    topic = rng.choices(topics, weights=[QUESTIONS[t][0] for t in topics])[0]
    banks = QUESTIONS[topic][1:]
    bank = rng.choices(banks, weights=LANGUAGE_WEIGHTS)[0] or banks[0]
    text = rng.choice(bank)
    if bank is banks[0] and rng.random() < 0.15:
        text = _typo(text, rng)
    return text


def _typo(text: str, rng: random.Random) -> str:
    words = text.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 5]
    if not long_words:
        return text
    i = rng.choice(long_words)
    at = rng.randrange(1, len(words[i]) - 1)
    words[i] = words[i][:at] + words[i][at + 1 :]
    return " ".join(words)


async def run_enquirers(
    target: str,
    stop_at: float,
    rate_hz: float = 0.5,
    seed: int = 1,
    source_id: str = "enquiry-robot-1",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> DeviceStats:
    """Ask ``rate_hz`` questions a second (a robot assistant at a control point) until ``stop_at``;
    ``accepted`` counts questions answered or handed over, ``rejected`` the refused ones."""
    from smartcustoms.hardware.sim.devices import DeviceStats

    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    rng, stats, started = random.Random(seed), DeviceStats(source_id), time.monotonic()
    async with open_channel(target, credentials) as channel:
        stub = enquiry_pb2_grpc.EnquiryServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        while time.monotonic() < stop_at and (max_frames is None or stats.sent < max_frames):
            stats.sent += 1
            request = enquiry_pb2.AskRequest(question=question(rng), channel="robot", session_id=source_id)
            try:
                await stub.Ask(request, timeout=60)
                stats.accepted += 1
            except grpc.aio.AioRpcError:
                stats.rejected += 1
            await asyncio.sleep(max(0.0, started + stats.sent / rate_hz - time.monotonic()))
    return stats
