"""What moto's server is patched with: each patch keeps moto's answers and fixes a cost or
a race that a busy local stack meets, found with py-spy on the benchmarks.

moto is made for one test at a time; the local stack runs a hundred workers and a dozen
handler threads against one server, so what is linear per request (a clock read per queued
message, the whole table copied per transaction, a global lock per backend lookup) becomes
quadratic, and what is not atomic (a failed transaction restoring a table copied before a
concurrent write) loses writes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def speed_up_moto_server() -> None:
    """Three per-request costs of moto's server that a busy local stack feels (measured with
    py-spy on the 1,000-scene benchmark): it lists moto's package folder from disk on every
    request to route it, it answers HTTP/1.0, so every request opens a new connection, and
    its response serializer re-parses every stored ISO timestamp with dateutil (~0.1 ms
    each: a third of a 1,000-key LIST page). The folder list cannot change while the
    process runs; HTTP/1.1 keeps connections open; ``datetime.fromisoformat`` reads the ISO
    text moto stores, anything else still goes to botocore's parser. The costs found later
    (the 10,000-scene job's, intake's versioned listing) are patched with them: the
    functions below.
    """
    from moto import backends
    from moto.core import serialize
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    if not getattr(serialize, "_cloudburst_fast_timestamps", False):
        serialize.parse_to_aware_datetime = aware_datetime(serialize.parse_to_aware_datetime)
        serialize._cloudburst_fast_timestamps = True  # type: ignore[attr-defined]
    if not getattr(backends, "_cloudburst_cached", False):
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
        backends._cloudburst_cached = True  # type: ignore[attr-defined]
    MotoRequestHandler.protocol_version = "HTTP/1.1"
    count_queues_with_one_clock_read()
    backends_without_the_global_lock_once_made()
    list_versions_under_the_prefix_only()


def backends_without_the_global_lock_once_made() -> None:
    """Every lookup of a service's backend (several per request: S3's, then EventBridge's
    and SQS's for the event an upload sends) takes moto's one global lock to check that
    the account's backend exists, and lists the dict's keys under it; hundreds of request
    threads queue on it. Once an account's backend exists, the lookup is a dict read: the
    lock only guards its creation, which still goes through moto's own code.
    """
    from moto.core.base_backend import BackendDict

    if getattr(BackendDict, "_cloudburst_fast_lookup", False):
        return
    create_then_read = BackendDict.__getitem__

    def lookup(self: Any, account_id: str) -> Any:
        try:
            return dict.__getitem__(self, account_id)
        except KeyError:
            return create_then_read(self, account_id)

    BackendDict.__getitem__ = lookup  # type: ignore[method-assign]
    BackendDict._cloudburst_fast_lookup = True  # type: ignore[attr-defined]


_LISTING = threading.local()  # the prefix a ListObjectVersions call on this thread asked for


def list_versions_under_the_prefix_only() -> None:
    """ListObjectVersions deep-copies every version of every key in the bucket, contents
    included (a FakeKey pickles its bytes), before it looks at the prefix, on every page:
    intake's one LIST of a folder of assets copied every MP4 the bucket had ever held, and
    every asset under the folder, byte for byte (a 2,000-asset folder took 0.5 s longer
    than ListObjectsV2 with one-byte files). The copy exists only so the listing can mark
    ``is_latest`` without touching the stored keys. While that call runs on a thread, the
    bucket's version store yields only the keys under its prefix (the call skips the others
    itself), and a version is copied as a shallow view, sharing the stored bytes and their
    lock, with its own ``is_latest``: the same answer without copying a byte.
    """
    from moto.s3 import models
    from moto.s3.utils import _VersionedKeyStore

    if getattr(models.S3Backend, "_cloudburst_prefix_versions", False):
        return
    every_list = _VersionedKeyStore._iterlists
    list_versions = models.S3Backend.list_object_versions

    def iterlists(self: Any) -> Any:
        prefix = getattr(_LISTING, "prefix", None)
        for key, versions in every_list(self):
            if prefix is None or key.startswith(prefix):
                yield key, versions

    def listed(self: Any, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        _LISTING.prefix = kwargs.get("prefix") or ""
        try:
            return list_versions(self, bucket_name, *args, **kwargs)
        finally:
            _LISTING.prefix = None

    _VersionedKeyStore.lists = _VersionedKeyStore.iterlists = iterlists
    models.copy = _CopyWhileListing()  # type: ignore[assignment]
    models.S3Backend.list_object_versions = listed  # type: ignore[method-assign]
    models.S3Backend._cloudburst_prefix_versions = True  # type: ignore[attr-defined]


class _CopyWhileListing:
    """The ``copy`` module as moto's S3 models see it: while the thread lists versions, the
    deep copy of a key's version list is a list of shallow views; otherwise ``copy``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if getattr(_LISTING, "prefix", None) is not None and isinstance(value, list):
            return [_view(version) for version in value]
        return copy.deepcopy(value, memo)


def _view(version: Any) -> Any:
    """The same attributes (the bytes' buffer and lock shared), no pickling; of a subclass
    whose ``__del__`` does nothing, since a FakeKey's closes its buffer: the stored key's."""
    kind = _VIEWS.get(type(version))
    if kind is None:
        kind = type(f"Listed{type(version).__name__}", (type(version),), {"__del__": _keep})
        _VIEWS[type(version)] = kind
    view: Any = object.__new__(kind)
    view.__dict__.update(version.__dict__)
    return view


def _keep(self: Any) -> None:
    """A view owns nothing: the stored version keeps its bytes."""


_VIEWS: dict[type, type] = {}


def count_queues_with_one_clock_read() -> None:
    """moto's SendMessage reads the queue's attributes (for one flag), and those count the
    visible, in-flight and delayed messages by asking the clock once per message, three
    times: with 10,000 scene events queued, every event moto routes to the queue costs
    30,000 clock reads and the server melts (seen with py-spy on the 10,000-scene bench).
    The same three counts, with one clock read each: the same answers, ~30x cheaper.
    """
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    if getattr(Queue, "_cloudburst_counts", False):
        return

    def visible_now(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if now > m.visible_at and now >= m.delayed_until)

    def not_visible(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if now <= m.visible_at)

    def delayed(queue: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if now < m.delayed_until)

    Queue.approximate_number_of_messages = property(visible_now)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment]
    Queue._cloudburst_counts = True  # type: ignore[attr-defined]


# One writer at a time in moto's DynamoDB: a transaction's rollback must not undo another
# thread's write, and moto's writes are not atomic between threads. Re-entrant: a
# transaction calls put_item/update_item itself.
_DYNAMODB_WRITES = threading.RLock()


def atomic_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table it touches before it starts and, if
    any condition fails, puts the copies back: with 20,000 items each transaction copied
    them all (the server at 100 % CPU), and a rollback undid whatever other threads wrote
    meanwhile — a batch finished by its event went back to RUNNING when a late scene
    report's transaction failed, and the sweeper had to end it again ten minutes later.

    Here writes take one lock, moto's table copy is the table itself (a reference), and the
    rollback restores only the items the transaction names, as they were before it.
    """
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend, "_cloudburst_atomic", False):
        return

    class CopyTablesByReference:
        """``copy`` for moto's dynamodb models: a Table is not copied (only its snapshot
        for a rollback ever is), anything else is, as before."""

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = CopyTablesByReference  # type: ignore[assignment]
    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _DYNAMODB_WRITES:
            before = [_item_before(self, op) for op in transact_items]
            try:
                transact(self, transact_items)
            except Exception:
                for table, key, item in before:
                    _restore(table, key, item)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBBackend._cloudburst_atomic = True  # type: ignore[attr-defined]


def _locked(write: Callable[..., Any]) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_WRITES:
            return write(*args, **kwargs)

    return locked


def _item_before(backend: Any, operation: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(table, key, a copy of the item or None) for one operation of a transaction; a
    malformed one is moto's to refuse (table None: nothing to restore)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        (body,) = operation.values()
        table = backend.tables.get(body.get("TableName"))
        if table is None:
            return None, None, None
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        source = body["Item"] if "Item" in body else body["Key"]
        key = tuple(DynamoType(source[name]) for name in names)
        found = table.get_item(*key)  # (hash) or (hash, range)
    except Exception:
        return None, None, None
    return table, key, copy.deepcopy(found)


def _restore(table: Any, key: Any, item: Any) -> None:
    if table is None:
        return
    if table.range_key_attr:
        hash_value, range_value = key
        rows = table.items[hash_value]
        if item is None:
            rows.pop(range_value, None)
            if not rows:
                table.items.pop(hash_value, None)
        else:
            rows[range_value] = item
    elif item is None:
        table.items.pop(key[0], None)
    else:
        table.items[key[0]] = item


def aware_datetime(slow: Callable[[Any], datetime]) -> Callable[[Any], datetime]:
    """botocore's ``parse_to_aware_datetime`` with a fast path for ISO 8601 text."""

    def parse(value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return slow(value)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return slow(value)

    return parse
