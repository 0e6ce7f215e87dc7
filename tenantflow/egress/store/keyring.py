"""The master keys that seal stored secrets: from configuration, or a key file made on first use.

Two modes:

* ``secrets_master_key`` set: that key is the primary; keys listed in
  ``secrets_previous_keys`` still decrypt old rows. Rotating means: put the
  new key in ``secrets_master_key``, the old one in ``secrets_previous_keys``,
  run ``tenantflow secrets rotate-key``, then drop the old key from config.
  Keys in an existing key file are readable too (moving from file to config).
* otherwise a key file (``secrets_key_file``, default ``data_dir/secrets.key``)
  created with mode 0600 the first time a secret is sealed or opened.
  ``rotate-key`` adds a fresh primary to the file, re-encrypts every row,
  then retires the old keys from the file.

Other processes notice a rotated key file (its modification time changes) and
reload it, so an API server keeps working while the CLI rotates.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from tenantflow.config import Settings
from tenantflow.egress.crypto import SecretBox, key_id_for, parse_key
from tenantflow.egress.store.errors import KeyRotationError


class KeyRing:
    """Holds the current :class:`SecretBox`; loads it lazily (no key file until first use)."""

    def __init__(
        self,
        *,
        master_key: str = "",
        previous_keys: Sequence[str] = (),
        key_file: Path | None = None,
    ) -> None:
        if not master_key and key_file is None:
            raise ValueError("a key ring needs a master key or a key file")
        self._configured: SecretBox | None = None
        if master_key:
            primary = parse_key(master_key)
            old = [parse_key(p) for p in previous_keys if p.strip()]
            # Moving from a key file to a configured key: the file's keys stay
            # readable, so ``rotate-key`` can move the rows to the configured key.
            old.extend(_file_keys(key_file))
            keys = {key_id_for(k): k for k in old}
            keys[key_id_for(primary)] = primary
            self._configured = SecretBox(keys, key_id_for(primary))
        self.key_file = None if master_key else key_file
        self._box: SecretBox | None = self._configured
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "config" if self._configured else f"file {self.key_file}"
        return f"KeyRing({mode})"

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The key ring ``settings`` describe."""
        previous = settings.secrets_previous_keys.get_secret_value().split(",")
        return cls(
            master_key=settings.secrets_master_key.get_secret_value().strip(),
            previous_keys=[p.strip() for p in previous if p.strip()],
            key_file=settings.resolved_secrets_key_file,
        )

    @property
    def from_config(self) -> bool:
        """Whether the keys come from configuration (not a key file)."""
        return self._configured is not None

    @property
    def box(self) -> SecretBox:
        """The current box; re-reads the key file if another process changed it."""
        if self._configured is not None:
            return self._configured
        assert self.key_file is not None
        with self._lock:
            stamp = self._file_stamp()
            if self._box is None or stamp != self._stamp:
                self._box = SecretBox.from_key_file(self.key_file)
                self._stamp = self._file_stamp()
            return self._box

    def _file_stamp(self) -> tuple[int, int] | None:
        assert self.key_file is not None
        try:
            st = os.stat(self.key_file)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def add_primary(self) -> SecretBox:
        """Key-file mode: write a fresh primary key to the file (old keys kept) and use it."""
        if self._configured is not None:
            raise KeyRotationError(
                "the master key comes from configuration: set the new key in "
                "TENANTFLOW_SECRETS_MASTER_KEY and the old one in "
                "TENANTFLOW_SECRETS_PREVIOUS_KEYS, then re-encrypt"
            )
        return self._save(self.box.with_new_primary())

    def retire_old_keys(self) -> list[str]:
        """Key-file mode: drop every non-primary key from the file; returns their ids."""
        if self._configured is not None:
            return []
        box = self.box
        retired = [k for k in box.key_ids if k != box.primary]
        for key_id in retired:
            box = box.without_key(key_id)
        if retired:
            self._save(box)
        return retired

    def _save(self, box: SecretBox) -> SecretBox:
        assert self.key_file is not None
        with self._lock:
            box.save(self.key_file)
            self._box = box
            self._stamp = self._file_stamp()
        return box


def _file_keys(path: Path | None) -> list[bytes]:
    """The keys held in the key file at ``path`` (none if there is no file)."""
    if path is None or not path.exists():
        return []
    data = json.loads(path.read_text("utf-8"))
    return [parse_key(str(v)) for v in dict(data["keys"]).values()]
