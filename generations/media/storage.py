"""Media through Django's storage API only: the one place that moves bytes in and out of it.

Clips, last frames, latents and final videos are written with ``storage.save`` and read with
``storage.open``; video work (normalise, stitch, score) happens on local temporary files, never
under MEDIA_ROOT, so the same code runs on the local filesystem (the embedded default) and on an
S3-compatible bucket shared by workers on many machines (``AWS_STORAGE_BUCKET_NAME``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db.models.fields.files import FieldFile

from coherence_project.conf import config

COPY_CHUNK_BYTES = 1 << 20


def save_file(name: str, local_path: Path, *, storage: Storage | None = None) -> str:
    """Store a local file under ``name``; returns the name actually stored (a storage that
    finds the name taken picks another, so a racing completer never overwrites a stored file)."""
    target = storage or default_storage
    with local_path.open("rb") as handle:
        return target.save(name, File(handle, name=Path(name).name))


def download(field_file: FieldFile, dest: Path) -> Path:
    """Copy a stored file to the local path ``dest`` (streamed, never whole in memory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with field_file.storage.open(field_file.name, "rb") as stored, dest.open("wb") as target:
        shutil.copyfileobj(stored, target, COPY_CHUNK_BYTES)
    return dest


def stored_bytes(field_file: FieldFile | None) -> bytes | None:
    """A stored file's bytes, or None when the field is empty: a start or reference image handed
    on to a derived generation (regenerate, variations, rerender), which stores its own copy."""
    if not field_file:
        return None
    with field_file.open("rb") as handle:
        return handle.read()


def delete_unreferenced(saved: Iterable[str], *, referenced: Iterable[str]) -> None:
    """Remove files this worker stored that its row does not point at (it lost a race)."""
    keep = set(referenced)
    for name in saved:
        if name and name not in keep:
            default_storage.delete(name)


def signed_url(field_file: FieldFile, *, seconds: int | None = None) -> str | None:
    """A short-lived signed URL for a stored file, or None when its storage cannot sign (the
    local filesystem: Django serves the bytes itself). Call it only after the owner check."""
    if not field_file:
        return None
    return signed_url_for(field_file.storage, field_file.name, seconds=seconds)


def signed_url_for(storage: Storage, name: str, *, seconds: int | None = None) -> str | None:
    """``signed_url`` for a name in a storage (the media route knows paths, not fields)."""
    if not getattr(storage, "querystring_auth", False):
        return None
    expire = seconds if seconds is not None else config.SIGNED_URL_SECONDS
    return storage.url(name, expire=expire)
