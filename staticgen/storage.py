"""Writing to the `cdn` storage so that no reader ever sees half a file.

- Local directory (FileSystemStorage): write a temp file in the same directory, then
  os.replace() it over the old one (a rename within one filesystem is atomic; a reader has the
  old inode or the new one). nginx/Django serve Content-Type by extension and Cache-Control from
  their own config.
- S3 (django-storages S3Storage): one PUT is atomic by nature; Content-Type, Cache-Control and
  the ACL travel as object parameters so the bucket serves them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

MANIFEST = "_manifest.json"


def cdn_storage() -> Storage:
    return storages["cdn"]


def _is_s3(storage: Storage) -> bool:
    return hasattr(storage, "bucket") and hasattr(storage, "_normalize_name")


class CdnWriter:
    """The few operations the publisher needs, done right for each backend."""

    def __init__(self, storage: Storage | None = None):
        self.storage = storage or cdn_storage()
        self.local = isinstance(self.storage, FileSystemStorage)
        self.s3 = _is_s3(self.storage)

    @property
    def description(self) -> str:
        if self.local:
            return f"local directory {self.storage.location}"
        if self.s3:
            endpoint = getattr(self.storage, "endpoint_url", None) or "AWS"
            return f"s3://{self.storage.bucket_name} ({endpoint})"
        return type(self.storage).__name__

    def write(self, name: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        if self.local:
            self._write_local(name, data)
        elif self.s3:
            self._write_s3(name, data, content_type=content_type, cache_control=cache_control)
        else:  # any other backend: the best it offers
            with contextlib.suppress(FileNotFoundError):
                self.storage.delete(name)
            self.storage.save(name, ContentFile(data))

    def _write_local(self, name: str, data: bytes) -> None:
        target = Path(self.storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # mkstemp creates 0600; the web server (nginx as another user) must read the file.
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _s3_key(self, name: str) -> str:
        from storages.utils import clean_name

        return self.storage._normalize_name(clean_name(name))  # noqa: SLF001  the key django-storages itself writes

    def _write_s3(self, name: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        params = {"Body": data, "ContentType": content_type, "CacheControl": cache_control}
        acl = getattr(self.storage, "default_acl", None)
        if acl:
            params["ACL"] = acl
        self.storage.bucket.Object(self._s3_key(name)).put(**params)

    def read(self, name: str) -> bytes | None:
        try:
            with self.storage.open(name, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, OSError):
            return None
        except Exception as exc:  # botocore ClientError (NoSuchKey / 404) without importing boto here
            if type(exc).__name__ in ("ClientError", "NoSuchKey"):
                return None
            raise

    def exists(self, name: str) -> bool:
        return self.storage.exists(name)

    def delete(self, name: str) -> None:
        if self.local:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.storage.path(name))
            return
        self.storage.delete(name)
