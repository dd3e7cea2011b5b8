"""Who may use the console, and as what: local accounts in a file, or the government
identity provider's users (hub.console.auth, OpenID Connect).

Roles, from least to most:
  viewer    sees the whole network, every report (reporters hidden), dead letters, the trail
  agency    an agency's operator: sees only reports sent to or filed through its agency, and
            the dead letters of its own connectors
  national  the national administrator's operator: replays dead letters, designates
            handlers, reveals a reporter's identity (with a reason, in the audit trail)

The accounts file (``console.accounts``; default ``<LAPOR_HUB_HOME>/console-accounts.yaml``,
mode 0600) holds Argon2id hashes only (argon2-cffi): ``lapor-hub console user add`` writes
them; the password is never stored or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import HubError

Role = Literal["viewer", "agency", "national"]
ROLES: tuple[Role, ...] = ("viewer", "agency", "national")
HASHER = PasswordHasher()  # Argon2id, the library's defaults (RFC 9106's second choice)
# compared against when the user does not exist, so a wrong name costs a wrong password's time
_UNKNOWN = HASHER.hash("no such user")


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password_hash: str = Field(pattern=r"^\$argon2id\$")
    role: Role
    agency: str | None = None  # the agency of an agency operator

    @model_validator(mode="after")
    def _agency_for_agency_role(self) -> Account:
        if (self.role == "agency") != (self.agency is not None):
            raise ValueError("an agency operator names its agency, and only it does")
        return self


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, Account] = {}


@dataclass(frozen=True)
class User:
    """Someone logged in."""

    name: str
    role: Role
    agency: str | None = None
    via: str = "local"  # or the identity provider's issuer

    @property
    def is_national(self) -> bool:
        return self.role == "national"

    @property
    def audit_name(self) -> str:
        """Who the audit trail says acted: a local account, or a user of the identity
        provider named with its issuer's host (the same name in both stays two people)."""
        if self.via == "local":
            return f"console:{self.name}"
        from urllib.parse import urlsplit

        return f"console:{self.name}@{urlsplit(self.via).hostname or self.via}"

    def sees_agency(self, agency: str) -> bool:
        return self.role != "agency" or agency == self.agency


def load_accounts(path: Path) -> AccountsFile:
    if not path.exists():
        return AccountsFile()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return AccountsFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise HubError(
            f"the console's accounts file {path} cannot be read: {exc}",
            fix="fix it by hand or write it again with `lapor-hub console user add`.",
        ) from exc


def save_accounts(path: Path, accounts: AccountsFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump(accounts.model_dump(exclude_none=True), out, sort_keys=True)
    os.replace(temporary, path)


def add_user(path: Path, name: str, password: str, role: Role, agency: str | None) -> None:
    if len(password) < 12:
        raise HubError(
            "the password is shorter than 12 characters", fix="choose a longer passphrase."
        )
    accounts = load_accounts(path)
    accounts.users[name] = Account(password_hash=HASHER.hash(password), role=role, agency=agency)
    save_accounts(path, accounts)


def remove_user(path: Path, name: str) -> bool:
    accounts = load_accounts(path)
    if accounts.users.pop(name, None) is None:
        return False
    save_accounts(path, accounts)
    return True


def check_password(accounts: AccountsFile, name: str, password: str) -> User | None:
    """The user, if the password is theirs; None otherwise, in the same time either way."""
    account = accounts.users.get(name)
    try:
        HASHER.verify(account.password_hash if account else _UNKNOWN, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None:
        return None
    return User(name, account.role, account.agency)
