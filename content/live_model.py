"""The model a running bot answers with, swapped whole when a retrained one is ready (bot/retrain.py).

Handlers use it as they would the Model (services.model.understand(...)): each attribute is read
from the current model, and a swap is one assignment, so a message is understood by the old
model or the new one, never by half of each.
"""
from __future__ import annotations

from content.model import Model


class LiveModel:
    def __init__(self, model: Model, model_hash: str, version: int | None = None):
        self._current = (model, model_hash, version)
        self.files_hash = model_hash  # the model it started with: the content files' (a rollback's last resort)

    def swap(self, model: Model, model_hash: str, version: int | None) -> None:
        self._current = (model, model_hash, version)

    @property
    def model(self) -> Model:
        return self._current[0]

    @property
    def model_hash(self) -> str:
        """The model's name in the cache (content/model_cache.py model_hash)."""
        return self._current[1]

    @property
    def version(self) -> int | None:
        """Its ModelVersion (None: the model of the files alone)."""
        return self._current[2]

    def __getattr__(self, name: str):
        return getattr(self._current[0], name)
