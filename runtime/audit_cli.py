"""``smartcustoms audit``: prove that the audit trail is what was appended, and hand a case's history over.

    smartcustoms audit verify [--json]          walk the chain and the anchors; exit 1 at the first breach
    smartcustoms audit export --case N [--out F] a case's records with the links to an anchor (its proof)
    smartcustoms audit check-export FILE        check such a proof offline, without Redis
    smartcustoms audit tail [-n 20]             the latest records

``verify`` names the first record that was changed, removed or reordered. With the embedded defaults and
the runtime stopped, the commands start the embedded Redis on its persisted data for as long as they run.
Errors (an unreachable Redis, a case with no records, a file that is not a proof) are one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from smartcustoms.core.config import Config


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="the tamper-evident audit trail: verify it, export a case")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="walk the hash chain and the anchors; exit 1 at a breach")
    verify.add_argument("--json", action="store_true", help="the result as one JSON object")
    verify.set_defaults(handler=cmd_verify)
    export = actions.add_parser("export", help="a case's custody history with its proof, as JSON")
    export.add_argument("--case", required=True, help="the case number")
    export.add_argument("--out", help="write the proof to this file instead of standard output")
    export.set_defaults(handler=cmd_export)
    check = actions.add_parser("check-export", help="check an exported proof offline")
    check.add_argument("file", help="a file written by `smartcustoms audit export`")
    check.set_defaults(handler=cmd_check_export)
    tail = actions.add_parser("tail", help="the latest records of the trail")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.set_defaults(handler=cmd_tail)


def cmd_verify(args: argparse.Namespace) -> int:
    from smartcustoms.core.audit import AuditTrail
    from smartcustoms.core.audit_chain import check_chain

    config = _config(args)
    try:
        anchors = _anchor_file(config).read()
    except ValueError as error:
        return _fail(f"the anchor file was changed: {error}")
    with _trail(config) as trail:
        if isinstance(trail, str):
            return _fail(trail)
        assert isinstance(trail, AuditTrail)
        checked, breach = check_chain(trail.entries(), anchors)
        pending = trail.pending()
    anchored = max((a.seq for a in anchors), default=-1)
    if args.json:
        report = {
            "intact": breach is None,
            "records": checked,
            "anchors": len(anchors),
            "anchored_seq": anchored,
            "pending": pending,
            "breach": None if breach is None else {"seq": breach.seq, "problem": breach.problem},
        }
        print(json.dumps(report))
    elif breach is None:
        print(
            f"audit trail intact: {checked} records, {len(anchors)} anchors (last at record {anchored}), "
            f"{pending} events queued"
        )
    else:
        print(f"audit trail BROKEN at record {breach.seq}: {breach.problem}", file=sys.stderr)
    return 0 if breach is None else 1


def cmd_export(args: argparse.Namespace) -> int:
    from smartcustoms.core.audit import AuditTrail

    config = _config(args)
    case = args.case.strip()
    if not case:
        return _fail("the case number is empty")
    try:
        anchors = _anchor_file(config).read()
    except ValueError as error:
        return _fail(f"the anchor file was changed: {error}")
    with _trail(config) as trail:
        if isinstance(trail, str):
            return _fail(trail)
        assert isinstance(trail, AuditTrail)
        try:
            proof = case_proof(trail, case, anchors)
        except LookupError as error:
            return _fail(str(error))
    text = json.dumps(proof, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        records, end = len(proof["records"]), proof["anchor"]["seq"]
        print(f"case {case}: {records} records, proof to record {end} in {args.out}")
    else:
        print(text)
    if not proof["anchor"]["anchored"]:
        print(
            f"note: the case's last record is after the last anchor; the proof ends at the current head "
            f"(record {proof['anchor']['seq']}), which no anchor confirms yet",
            file=sys.stderr,
        )
    return 0


def case_proof(trail: Any, case: str, anchors: list[Any]) -> dict[str, Any]:
    """The case's records, the digests linking them to the first anchor at or after the last of them
    (else to the current head), and that anchor. LookupError: no such case, or the chain is broken."""
    from smartcustoms.core.audit_chain import AuditRecord, check_chain

    seqs = trail.case_seqs(case)
    if not seqs:
        raise LookupError(f"no audit records for case {case!r} in namespace {trail.namespace!r}")
    checked, breach = check_chain(trail.entries(), anchors)
    if breach is not None:
        raise LookupError(f"the audit trail is broken at record {breach.seq} ({breach.problem}): no proof")
    later = sorted((a for a in anchors if a.seq >= seqs[-1] and a.seq < checked), key=lambda a: a.seq)
    end = later[0].seq if later else checked - 1
    first = seqs[0]
    records = [AuditRecord.from_json(raw) for raw in _range(trail, first, end)]
    wanted = set(seqs)
    return {
        "case": case,
        "namespace": trail.namespace,
        "records": [json.loads(r.to_json()) for r in records if r.seq in wanted],
        "links": {"from_seq": first, "prev": records[0].prev, "digests": [r.digest for r in records]},
        "anchor": {
            "seq": end,
            "hash": records[-1].hash,
            "at": later[0].at if later else "",
            "anchored": bool(later),
        },
    }


def _range(trail: Any, first: int, last: int) -> Iterator[bytes]:
    for seq, raw in enumerate(trail.entries(first), first):
        if seq > last:
            return
        yield raw


def cmd_check_export(args: argparse.Namespace) -> int:
    from smartcustoms.core.audit_chain import check_proof

    try:
        proof = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return _fail(f"cannot read {args.file}: {error}")
    if not isinstance(proof, dict):
        return _fail(f"{args.file} is not a proof written by `smartcustoms audit export`")
    breach = check_proof(proof)
    if breach is not None:
        print(f"proof BROKEN at record {breach.seq}: {breach.problem}", file=sys.stderr)
        return 1
    anchor = proof["anchor"]
    confirmed = f"anchored at {anchor['at']}" if anchor.get("anchored") else "not anchored yet"
    print(
        f"proof intact: case {proof.get('case')}, {len(proof['records'])} records linked to record "
        f"{anchor['seq']} (hash {anchor['hash']}, {confirmed})"
    )
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from smartcustoms.core.audit import AuditTrail
    from smartcustoms.core.audit_chain import AuditRecord

    if args.n <= 0:
        return _fail("-n must be a positive number of records")
    config = _config(args)
    with _trail(config) as trail:
        if isinstance(trail, str):
            return _fail(trail)
        assert isinstance(trail, AuditTrail)
        length = trail.length()
        for raw in trail.entries(max(0, length - args.n)):
            try:
                record = AuditRecord.from_json(raw)
            except ValueError:
                print(f"(unreadable) {raw[:120]!r}")
                continue
            print(
                f"{record.seq:>8}  {record.at}  {record.kind:<16} {record.hash[:16]}  {_summary(record.body)}"
            )
    return 0


def _summary(body: Any) -> str:
    keys = ("case", "frame_id", "decision", "epc", "action", "outcome", "officer", "reason")
    return "  ".join(f"{k}={body[k]}" for k in keys if isinstance(body, dict) and body.get(k))


def _config(args: argparse.Namespace) -> Config:
    from smartcustoms.core import config as config_module

    return config_module.load(getattr(args, "config", None))


def _anchor_file(config: Config) -> Any:
    from smartcustoms.runtime.auditor import AnchorFile

    return AnchorFile(config.audit.anchors_at(config.run_dir))


@contextlib.contextmanager
def _trail(config: Config) -> Iterator[Any]:
    """The trail on the runtime's Redis; with the embedded defaults and no Redis answering, on the
    embedded Redis started from its persisted data for the command's duration. A str: why not."""
    import redis

    from smartcustoms.core.audit import AuditTrail

    url = config.redis.client_url
    client = redis.Redis.from_url(url, socket_timeout=10.0, socket_connect_timeout=2.0)
    if _answers(client) or config.redis.url:
        try:
            yield (
                AuditTrail(client, config.namespace)
                if _answers(client)
                else f"Redis at {url} does not answer"
            )
        finally:
            client.close()
        return
    client.close()
    yield from _embedded_trail(config)


def _embedded_trail(config: Config) -> Iterator[Any]:
    import redis

    from smartcustoms.core.audit import AuditTrail
    from smartcustoms.runtime.process import ProcessStack
    from smartcustoms.runtime.services import EmbeddedRedis

    run_dir = Path(config.run_dir).absolute()
    if not (run_dir / "redis").exists():
        yield f"no runtime data in {run_dir} and no Redis at {config.redis.client_url}: nothing to read"
        return
    with ProcessStack() as stack:
        server = stack.start(EmbeddedRedis(run_dir))
        client = redis.Redis.from_url(server.url, socket_timeout=10.0)
        try:
            yield AuditTrail(client, config.namespace)
        finally:
            client.close()


def _answers(client: redis.Redis) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _fail(message: str) -> int:
    print(f"smartcustoms audit: {message}", file=sys.stderr)
    return 1
