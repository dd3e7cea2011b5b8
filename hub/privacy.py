"""Reporters' identities sealed at ingest, opened only for a destination allowed to see them.

A reporter's name, phone, email and other contacts are encrypted with AES-256-GCM
(authenticated: a changed byte is refused, not misread) the moment the hub has them: the
raw message an app sent is sealed whole before it is written to ``lapor.in.<connector>``,
and the identity fields of the canonical Report are sealed before it is written anywhere.
So no topic, changelog, dead letter or log line holds them in clear. The delivery stage opens
them for a handling agency of a report that is not anonymous, and for nobody else.

Keys come from ``LAPOR_HUB_IDENTITY_KEYS`` (JSON ``{"active": "k2", "keys": {"k1": "<base64
of 32 bytes>", ...}}``) or the file it names with ``LAPOR_HUB_IDENTITY_KEYS_FILE``
(default: ``<LAPOR_HUB_HOME>/identity-keys.json``, created with a new key, mode 0600, on
first use). Every sealed value carries its key id: new writes use the active key, older
values still open with the key they name (rotation: ``lapor-hub keys rotate``).

Each connector has keys of its own, derived from the network's (HKDF-SHA256 over the key and
the connector's name; key id ``<key id>@<connector>``). What goes onto a connector's topics
is sealed with its key: the route hop re-seals a handler's copy of the identity for the
connector that delivers it, and an agency's own `lapor-hub connect` seals what it takes in
with it. The network's ring opens every connector's values; a connector's ring (``lapor-hub
keys export``) opens its own only, so the network's ring never leaves the hub.

Sealed field values look like ``lapor-enc:1:<key id>:<base64url(nonce + ciphertext)>``;
the report's hub id and the field's name are the associated data, so a value moved to
another report or field does not open. A sealed raw message carries its key id in the
``lapor.sealed`` header and starts with ``LENC1``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import HubError

log = logging.getLogger(__name__)

FIELD_PREFIX = "lapor-enc:1:"
RAW_MAGIC = b"LENC1"
IDENTITY_FIELDS = ("name", "phone", "email")
HIDDEN = "[identity sealed]"


class PrivacyError(HubError):
    """A key is missing or a sealed value does not open."""


class MissingKey(PrivacyError):
    """A value sealed with a key this ring does not hold (yet: an agency's ring exported
    before a rotation opens nothing sealed after it until it is exported again)."""


CONNECTOR_SEPARATOR = "@"  # in a key id: <network key id>@<connector>


@functools.lru_cache(maxsize=4096)
def _connector_key(key: bytes, connector: str) -> bytes:
    info = b"lapor-hub connector identity key\0" + connector.encode()
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class KeyRing:
    active: str
    keys: dict[str, bytes]

    # -- keys --------------------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str, where: str) -> KeyRing:
        try:
            data = json.loads(text)
            keys = {kid: base64.b64decode(value) for kid, value in data["keys"].items()}
            active = data["active"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PrivacyError(
                f"the identity keys in {where} cannot be read ({exc})",
                fix='expected {"active": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}.',
            ) from exc
        scoped = [kid.rpartition(CONNECTOR_SEPARATOR) for kid in keys if CONNECTOR_SEPARATOR in kid]
        if scoped and (
            len(scoped) != len(keys)  # the network's keys and a connector's in one ring
            or len({owner for _, _, owner in scoped}) != 1
            or any(
                not base or not owner or CONNECTOR_SEPARATOR in base for base, _, owner in scoped
            )
        ):
            raise PrivacyError(
                f"the identity keys in {where} mix the network's keys and a connector's, or "
                f"name a key with more than one {CONNECTOR_SEPARATOR!r}",
                fix="a ring is the network's (key ids without '@') or one connector's "
                "(`lapor-hub keys export`: every id ends in @<connector>).",
            )
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise PrivacyError(
                f"the identity keys in {where} are not usable: the active key must be listed "
                "and every key must be 32 bytes",
                fix="make a new key file with `lapor-hub keys rotate --file FILE`.",
            )
        return cls(active, keys)

    def to_json(self) -> str:
        keys = {kid: base64.b64encode(key).decode() for kid, key in self.keys.items()}
        return json.dumps({"active": self.active, "keys": keys}, indent=2)

    @property
    def connector(self) -> str | None:
        """The connector this ring belongs to, or None for the network's ring."""
        owners = {kid.rpartition(CONNECTOR_SEPARATOR)[2] for kid in self.keys}
        if all(CONNECTOR_SEPARATOR in kid for kid in self.keys) and len(owners) == 1:
            return owners.pop()
        return None

    def for_connector(self, connector: str) -> KeyRing:
        """The ring of one connector: each of the network's keys derived for it. It opens
        what was sealed for that connector, and nothing else."""
        if not connector or CONNECTOR_SEPARATOR in connector:
            raise PrivacyError(f"{connector!r} is not a connector's name")
        if self.connector is not None:
            if self.connector == connector:
                return self
            raise PrivacyError(
                f"this key ring is connector {self.connector}'s: it holds no key of {connector}"
            )
        keys = {
            f"{kid}{CONNECTOR_SEPARATOR}{connector}": _connector_key(key, connector)
            for kid, key in self.keys.items()
        }
        return KeyRing(f"{self.active}{CONNECTOR_SEPARATOR}{connector}", keys)

    def key(self, kid: str) -> bytes | None:
        """The key ``kid`` names: this ring's own, or one derived from it for a connector."""
        key = self.keys.get(kid)
        base, _, connector = kid.rpartition(CONNECTOR_SEPARATOR)
        if key is None and base and connector and base in self.keys:
            key = _connector_key(self.keys[base], connector)
        return key

    def rotated(self) -> KeyRing:
        """A new active key; the old ones stay, so what they sealed still opens."""
        kid = f"k{len(self.keys) + 1}-{secrets.token_hex(3)}"
        return KeyRing(kid, {**self.keys, kid: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def new(cls) -> KeyRing:
        kid = f"k1-{secrets.token_hex(3)}"
        return cls(kid, {kid: AESGCM.generate_key(bit_length=256)})

    # -- sealing -----------------------------------------------------------------------

    def seal(self, data: bytes, associated: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, data, associated)
        return self.active, nonce + sealed

    def open(self, kid: str, sealed: bytes, associated: bytes) -> bytes:
        key = self.key(kid)
        if key is None and self.connector is not None:
            raise MissingKey(
                f"a value was sealed with key {kid!r}, which is not connector "
                f"{self.connector}'s: a connector opens what was sealed for it only",
                fix="if it is the connector's own key of a newer rotation, export the "
                f"ring again on the hub (lapor-hub keys export {self.connector}).",
            )
        if key is None:
            raise MissingKey(
                f"a value was sealed with key {kid!r}, which is not in the key ring",
                fix="add the old key back to the key file (keys are never to be dropped while "
                "records they sealed are kept).",
            )
        try:
            return AESGCM(key).decrypt(sealed[:12], sealed[12:], associated)
        except InvalidTag as exc:
            raise PrivacyError(
                "a sealed value did not open: it was changed, or moved from another report",
                fix="treat the record as corrupt; its other fields are intact.",
            ) from exc


@functools.cache
def hub_keyring() -> KeyRing:
    """This process's key ring (settings' home), loaded once."""
    from hub.settings import load_settings

    return load_keyring(load_settings().home)


def keyring_source(home: Path) -> str:
    """Where this process's key ring comes from, for a message."""
    if os.environ.get("LAPOR_HUB_IDENTITY_KEYS"):
        return "LAPOR_HUB_IDENTITY_KEYS"
    return str(keys_file(home))


def keys_file(home: Path) -> Path:
    return Path(os.environ.get("LAPOR_HUB_IDENTITY_KEYS_FILE") or home / "identity-keys.json")


def load_keyring(home: Path) -> KeyRing:
    """The key ring from the environment or the key file, made on first use."""
    if os.environ.get("LAPOR_HUB_IDENTITY_KEYS"):
        return KeyRing.from_json(os.environ["LAPOR_HUB_IDENTITY_KEYS"], "LAPOR_HUB_IDENTITY_KEYS")
    path = keys_file(home)
    if not path.exists():
        ring = KeyRing.new()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting together, one makes it, both use it
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(ring.to_json())
            log.warning(
                "made a new identity key in %s: back it up; without it sealed identities "
                "cannot be opened",
                path,
            )
    return KeyRing.from_json(path.read_text(), str(path))


def write_keyring(ring: KeyRing, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(ring.to_json())
    temporary.replace(path)


# -- the Report's identity fields --------------------------------------------------------


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FIELD_PREFIX)


def _seal_value(ring: KeyRing, value: Any, hub_id: str, field: str) -> str:
    # Every value from an app is sealed, whatever it looks like: a name sent as
    # "lapor-enc:1:..." would otherwise reach topics in clear, passed off as sealed.
    # A phone number an app sent as a JSON number is still a phone number (and still secret)
    kid, sealed = ring.seal(str(value).encode(), f"{hub_id}/{field}".encode())
    return f"{FIELD_PREFIX}{kid}:{base64.urlsafe_b64encode(sealed).decode()}"


def _open_value(ring: KeyRing, value: str, hub_id: str, field: str) -> str:
    if not is_sealed(value):
        return value  # written before sealing, or by a tool that does not seal
    kid, _, data = value[len(FIELD_PREFIX) :].partition(":")
    try:
        raw = base64.urlsafe_b64decode(data)
    except (ValueError, binascii.Error) as exc:
        raise PrivacyError(
            f"the {field} of report {hub_id} looks sealed but is not (bad base64): it was "
            "written in clear by something that does not seal"
        ) from exc
    return ring.open(kid, raw, f"{hub_id}/{field}".encode()).decode()


def _map_identity(report: dict[str, Any], change) -> dict[str, Any]:
    person = dict(report.get("reporter") or {})
    hub_id = report["hub_id"]
    for field in IDENTITY_FIELDS:
        if person.get(field) is not None:
            person[field] = change(person[field], hub_id, field)
    contacts = person.get("other_contacts") or {}
    person["other_contacts"] = {
        kind: change(value, hub_id, f"other_contacts.{kind}") for kind, value in contacts.items()
    }
    return {**report, "reporter": person}


def seal_identity(report: dict[str, Any], ring: KeyRing) -> dict[str, Any]:
    return _map_identity(report, lambda v, h, f: _seal_value(ring, v, h, f))


def open_identity(report: dict[str, Any], ring: KeyRing) -> dict[str, Any]:
    return _map_identity(report, lambda v, h, f: _open_value(ring, v, h, f))


def hide_identity(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its reporter's name and contacts (the privacy choices stay)."""
    person = {**(report.get("reporter") or {}), "other_contacts": {}}
    for field in IDENTITY_FIELDS:
        person[field] = None
    return {**report, "reporter": person}


def redact_identity(report: dict[str, Any]) -> dict[str, Any]:
    """For display: each present identity value replaced by a marker."""
    return _map_identity(report, lambda v, h, f: HIDDEN)


def for_outbound(
    report: dict[str, Any], role: str, ring: KeyRing, connector: str
) -> dict[str, Any]:
    """The report as it goes onto a destination connector's topic: for the handler of a
    report that is not anonymous, the identity sealed with that connector's key (only it
    and the hub open it); for a copy or an anonymous report, none of it, sealed or not."""
    if role != "HANDLER" or (report.get("reporter") or {}).get("anonymous"):
        return hide_identity(report)
    return seal_identity(open_identity(report, ring), ring.for_connector(connector))


def has_identity(report: dict[str, Any]) -> bool:
    person = report.get("reporter") or {}
    return any(person.get(f) is not None for f in IDENTITY_FIELDS) or bool(
        person.get("other_contacts")
    )


def for_destination(routed: dict[str, Any], role: str, ring: KeyRing) -> dict[str, Any]:
    """The routed report as one destination may see it: a handling agency of a report that
    is not anonymous gets the identity opened; every other gets none of it."""
    report = routed["report"]
    allowed = role == "HANDLER" and not (report.get("reporter") or {}).get("anonymous")
    shown = open_identity(report, ring) if allowed else hide_identity(report)
    return {**routed, "report": shown}


# -- raw messages ------------------------------------------------------------------------


def seal_body(body: bytes, key: bytes, ring: KeyRing) -> tuple[bytes, bytes]:
    """A raw message sealed whole, and the header value naming its key."""
    kid, sealed = ring.seal(body, b"raw:" + key)
    return RAW_MAGIC + sealed, kid.encode()


def open_body(body: bytes, key: bytes, kid: str, ring: KeyRing) -> bytes:
    if not body.startswith(RAW_MAGIC):
        raise PrivacyError("a message marked sealed does not start as a sealed one does")
    return ring.open(kid, body[len(RAW_MAGIC) :], b"raw:" + key)


# what a free text (an app's error answer, a refused value) may quote of a reporter:
# Indonesian mobile numbers, a 16-digit NIK, an e-mail address
_CONTACTS = re.compile(
    r"(?:\+?62|\b0)[\s.-]?8\d(?:[\s.-]?\d){6,10}\b"
    r"|\b\d{16}\b"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
)


def mask_contacts(text: str) -> str:
    """``text`` with phone numbers, NIKs and e-mail addresses replaced by HIDDEN: for free
    texts shown to operators (dead letters' reasons) that an app or a citizen wrote."""
    return _CONTACTS.sub(HIDDEN, text)
