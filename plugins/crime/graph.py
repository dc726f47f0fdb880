"""The link graph: records (cases, news, posts), the entities they name, and what joins them.

Nodes are ``record:<id>``, ``entity:<resolved id>`` and ``phone:<digits>``. A record is joined to each
entity it names; a person or company to each phone it gives and to its address entity. Over it an
officer asks what links two cases (the shortest paths between them, through shared people, phones,
companies, addresses and vehicles), who else used a phone, which companies share an address, and
which cases are like a case (shared entities first, then the same commodity, route, method, place).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .entities import PARTY_SCHEMATA, Mention, mentions_of
from .resolve import Resolution, Resolver, address_key, phone_key
from .store import StoredRecord

__all__ = ["LinkGraph", "Path", "SimilarCase", "build_graph"]

CASE_KIND = "case_record"
MAX_HOPS = 6
MAX_PATHS = 10
ATTRIBUTE_WEIGHTS = {"commodity": 1.0, "route": 1.0, "method": 0.5, "place": 0.5}
SHARED_ENTITY_WEIGHT = 3.0


@dataclass(frozen=True)
class Path:
    """Nodes from one record to another, each with its label."""

    nodes: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def hops(self) -> int:
        return len(self.nodes) - 1


@dataclass(frozen=True)
class SimilarCase:
    case_id: str
    score: float
    shared: tuple[str, ...]  # labels of the entities both cases reach
    same: tuple[str, ...]  # attributes they share ("commodity", "route", ...)


@dataclass
class LinkGraph:
    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    labels: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # node -> record kind or entity schema
    fields: dict[str, Mapping[str, str]] = field(default_factory=dict)  # record node -> fields
    resolution: Resolution | None = None

    def join(self, a: str, b: str) -> None:
        if a != b:
            self.edges[a].add(b)
            self.edges[b].add(a)

    def links(self, a: str, b: str, max_hops: int = MAX_HOPS) -> list[Path]:
        """The shortest paths (up to ``MAX_PATHS``) between records ``a`` and ``b``; [] if none."""
        start, goal = f"record:{a}", f"record:{b}"
        if start not in self.edges or goal not in self.edges or a == b:
            return []
        depth = {start: 0}
        parents: dict[str, list[str]] = defaultdict(list)
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if depth[node] >= max_hops or (goal in depth and depth[node] >= depth[goal]):
                continue
            for nxt in self.edges[node]:
                # other records are not passed through: a link is through what they share, not a third case
                if nxt.startswith("record:") and nxt != goal:
                    continue
                if nxt not in depth:
                    depth[nxt] = depth[node] + 1
                    queue.append(nxt)
                if depth[nxt] == depth[node] + 1:
                    parents[nxt].append(node)
        if goal not in depth:
            return []
        return [self._path(nodes) for nodes in self._walk_back(goal, start, parents)][:MAX_PATHS]

    def _walk_back(self, node: str, start: str, parents: Mapping[str, list[str]]) -> list[tuple[str, ...]]:
        if node == start:
            return [(start,)]
        out: list[tuple[str, ...]] = []
        for parent in sorted(parents.get(node, [])):
            out += [(*path, node) for path in self._walk_back(parent, start, parents)]
            if len(out) >= MAX_PATHS:
                break
        return out

    def _path(self, nodes: Sequence[str]) -> Path:
        return Path(tuple(nodes), tuple(self.labels.get(n, n) for n in nodes))

    def records_of_phone(self, phone: str, kind: str = CASE_KIND) -> list[str]:
        """Records whose people or companies gave this phone number."""
        node = f"phone:{phone_key(phone)}"
        holders = self.edges.get(node, set())
        found = {r for h in holders for r in self.edges[h] if r.startswith("record:")}
        return sorted(r.removeprefix("record:") for r in found if not kind or self.kinds.get(r) == kind)

    def holders_of_phone(self, phone: str) -> list[str]:
        return sorted(self.labels[h] for h in self.edges.get(f"phone:{phone_key(phone)}", set()))

    def companies_at(self, address: str) -> list[str]:
        """Companies (and organisations) whose address resolves to this one."""
        key = address_key(address)
        nodes = [
            n
            for n, label in self.labels.items()
            if self.kinds.get(n) == "Address" and address_key(label) == key
        ]
        found = {c for n in nodes for c in self.edges[n] if self.kinds.get(c) in PARTY_SCHEMATA - {"Person"}}
        return sorted(self.labels[c] for c in found)

    def similar_cases(self, case_id: str, top: int = 10) -> list[SimilarCase]:
        """Cases ranked by the entities they share with ``case_id``, then by attributes in common."""
        node = f"record:{case_id}"
        if node not in self.fields:
            return []
        mine = self._reach(node)
        scores: dict[str, float] = defaultdict(float)
        shared: dict[str, set[str]] = defaultdict(set)
        for entity in mine:
            for other in self._cases_reaching(entity) - {node}:
                scores[other] += SHARED_ENTITY_WEIGHT
                shared[other].add(self.labels[entity])
        mine_fields = self.fields[node]
        for other, theirs in self.fields.items():
            if other == node or self.kinds.get(other) != CASE_KIND:
                continue
            for name, weight in ATTRIBUTE_WEIGHTS.items():
                if mine_fields.get(name) and mine_fields.get(name) == theirs.get(name):
                    scores[other] += weight
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [
            SimilarCase(
                other.removeprefix("record:"),
                round(score, 2),
                tuple(sorted(shared[other])),
                tuple(
                    n
                    for n in ATTRIBUTE_WEIGHTS
                    if mine_fields.get(n) and mine_fields.get(n) == self.fields[other].get(n)
                ),
            )
            for other, score in ranked
        ]

    def _cases_reaching(self, entity: str) -> set[str]:
        """Cases whose ``_reach`` holds ``entity``."""
        near = {entity} | {n for n in self.edges[entity] if not n.startswith("record:")}
        return {c for n in near for c in self.edges[n] if self.kinds.get(c) == CASE_KIND}

    def _reach(self, record: str) -> set[str]:
        """The entities a record names, and their phones and addresses."""
        direct = {n for n in self.edges[record] if not n.startswith("record:")}
        return direct | {m for n in direct for m in self.edges[n] if not m.startswith("record:")}


def _label(mention: Mention) -> str:
    for prop in ("name", "full", "registrationNumber"):
        if value := mention.first(prop):
            return value
    return mention.mention_id


def build_graph(
    records: Sequence[StoredRecord],
    resolver: Resolver | None = None,
    entity_of: Mapping[str, str] | None = None,
) -> LinkGraph:
    """The graph of ``records``, their mentions resolved by ``resolver`` (or the given ``entity_of``)."""
    graph = LinkGraph()
    mentions: list[Mention] = []
    for record in records:
        node = f"record:{record.record_id}"
        graph.edges.setdefault(node, set())
        graph.kinds[node] = record.kind
        graph.fields[node] = record.fields
        graph.labels[node] = record.fields.get("case_id") or record.fields.get("title") or record.record_id
        mentions += mentions_of(record.record_id, record.fields.get("entities", ""))
    if entity_of is None:
        graph.resolution = (resolver or Resolver()).resolve(mentions)
        entity_of = graph.resolution.entity_of
    for m in mentions:
        entity = f"entity:{entity_of.get(m.mention_id, m.mention_id)}"
        graph.labels.setdefault(entity, _label(m))
        graph.kinds.setdefault(entity, m.schema)
        if m.schema == "Address":
            continue  # joined through whoever has the address
        graph.join(f"record:{m.record_id}", entity)
        for phone in m.values("phone"):
            if digits := phone_key(phone):
                graph.labels.setdefault(f"phone:{digits}", digits)
                graph.kinds.setdefault(f"phone:{digits}", "Phone")
                graph.join(entity, f"phone:{digits}")
        for address in m.values("addressEntity"):
            graph.join(entity, f"entity:{entity_of.get(address, address)}")
    return graph
