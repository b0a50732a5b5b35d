"""Where each shard's dedupe state lives: one S3 object per shard, cached while the execution
environment is warm.

``open`` reads the shard's state with a conditional GET (a warm environment downloads it only
when it changed) and returns the batch's decisions (dedupe.py), which store what the batch
commits back here. A state it cannot read (damaged, or written by another version of this
function, say after a rollback) is logged and counted, and the shard starts from an empty
window rather than stopping: a resend of a record committed before may then be written again,
which is what the ``DedupeStateUnreadable`` alarm is for.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from tributary import aws, logs

from .dedupe import BatchDedupe, ShardState, UnreadableStateError
from .settings import Settings

log = logs.get_logger("stream_processor")


class DedupeStore:
    """Each shard's dedupe state in S3, and the copy a warm environment keeps."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ShardState]] = {}
        self.unreadable = 0

    def open(self, settings: Settings, shard_id: str, start: int | None) -> BatchDedupe:
        """The decisions for a batch of ``shard_id`` starting at sequence number ``start``."""
        state = self.load(settings, shard_id)

        def save(committed: ShardState) -> None:
            self.save(settings, shard_id, committed)

        return state.batch(settings.dedupe_window_s, settings.dedupe_max_ids, start, save=save)

    def load(self, settings: Settings, shard_id: str) -> ShardState:
        """The shard's state as the last committed invocation left it."""
        cached = self._cache.get(shard_id)
        kwargs = {"IfNoneMatch": cached[0]} if cached else {}
        try:
            response = aws.client("s3").get_object(Bucket=settings.bucket, Key=_key(settings, shard_id), **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if cached and (status == 304 or code in ("304", "NotModified")):
                return cached[1]
            if code in ("NoSuchKey", "404"):
                return ShardState()
            raise
        try:
            state = ShardState.decode(response["Body"].read())
        except UnreadableStateError as exc:
            self.unreadable += 1
            log.error(
                "dedupe state unreadable; starting from an empty window",
                extra={"shard_id": shard_id, "etag": response.get("ETag"), "error": str(exc)},
            )
            state = ShardState()
        self._cache[shard_id] = (response["ETag"], state)
        return state

    def save(self, settings: Settings, shard_id: str, state: ShardState) -> None:
        """Write the shard's state; the cached copy changes only once the write succeeded."""
        response = aws.client("s3").put_object(
            Bucket=settings.bucket,
            Key=_key(settings, shard_id),
            Body=state.encode(),
            ContentType="application/gzip",
        )
        self._cache[shard_id] = (response["ETag"], state)

    def warm(self, shard_id: str, etag: str, state: ShardState) -> None:
        """Hold ``state`` as read with ``etag``, as a warm environment would after a GET."""
        self._cache[shard_id] = (etag, state)

    def clear(self) -> None:
        """Forget every cached state, as a cold start does."""
        self._cache.clear()


def _key(settings: Settings, shard_id: str) -> str:
    return f"{settings.state_prefix}/{shard_id}.json.gz"
