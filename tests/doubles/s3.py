"""An S3 client that behaves as AWS does where moto does not.

CopyObject honours ``CopySourceIfMatch`` (412 PreconditionFailed when the source's ETag is
another; moto ignores the header). AWS answers HeadObject with a status and no body, so
botocore names the error by its status: ``404`` for a missing key and for a missing bucket
alike (moto names the second ``NoSuchBucket``), and ``403`` for a missing key when the caller
may not ``s3:ListBucket`` the bucket (moto has no IAM; "HeadObject" in the Amazon S3 API
Reference documents both).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class AwsS3:
    """Wrap a boto3 S3 client; ``may_list`` names the buckets the caller may list (None: all)."""

    def __init__(self, client: Any, may_list: set[str] | None = None) -> None:
        self._client, self._may_list = client, may_list

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._client.head_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise
            listable = self._may_list is None or kwargs["Bucket"] in self._may_list
            status = "404" if listable or code == "NoSuchBucket" else "403"
            raise ClientError(
                {
                    "Error": {"Code": status, "Message": "Not Found" if status == "404" else "Forbidden"},
                    "ResponseMetadata": {"HTTPStatusCode": int(status)},
                },
                "HeadObject",
            ) from None

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        if self._may_list is not None and kwargs["Bucket"] not in self._may_list:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "ListObjectsV2",
            )
        return self._client.list_objects_v2(**kwargs)

    def copy_object(self, **kwargs: Any) -> dict[str, Any]:
        expected = kwargs.get("CopySourceIfMatch")
        if expected is not None:
            source = kwargs["CopySource"]
            current = self._client.head_object(Bucket=source["Bucket"], Key=source["Key"])["ETag"]
            if current.strip('"') != expected.strip('"'):
                raise ClientError(
                    {
                        "Error": {
                            "Code": "PreconditionFailed",
                            "Message": "At least one of the pre-conditions you specified did not hold",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": 412},
                    },
                    "CopyObject",
                )
        return self._client.copy_object(**kwargs)
