"""Patch 23: each AWS service's model is read from disk once per process. botocore reads a
service's model (and the endpoints, partitions and retry files) once per session, and every
container of every handler, every local cloud and moto's Step Functions integrations make
sessions of their own: a tenth of a second for each client, most of what a test spent making
clients. Nothing a call does changes: each session still makes its own clients, from the same
files, read once."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore import loaders

# What every default loader of this process has read: botocore's Loader caches the files it
# reads on the instance (instance_cache, keyed by method and arguments); the files are the same
# for every session that has no data path of its own (AWS_DATA_PATH).
_read: dict[Any, Any] = {}


def service_models_once() -> None:
    """Patch 23: sessions share what their loaders have read (see the module)."""
    original = loaders.create_loader

    def create_loader(search_path_string: str | None = None) -> loaders.Loader:
        loader = original(search_path_string)
        if search_path_string is None:  # botocore's own data (and boto3's, which it adds)
            loader._cache = _read
        return loader

    botocore.session.create_loader = create_loader  # the name Session looks up
