"""Import the realm `xinyu` into the local Keycloak, idempotently.

    uv run python infra/keycloak/provision.py          # http://127.0.0.1:8180, bootstrap admin
    uv run python infra/keycloak/provision.py --print  # the merged representation, touch nothing

What is imported (see infra/keycloak/README.md):
  realm-xinyu.json           the realm every environment gets
  local/*.client.json        local-only clients (xinyu-cli): the cluster import leaves them out
  demo/users.json            demo people (local and demo environments only)

The merged representation carries a hash of itself in the realm attribute
`xinyu.import.sha256`. A realm with the same hash is left alone (a no-op on every
`stack up`); a realm with another hash (the files changed) is deleted and imported again,
which also drops users that were created at run time. `infra/local/stack up` runs this.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REALM = "xinyu"
HASH_ATTRIBUTE = "xinyu.import.sha256"
# Keycloak keeps a client's name and description in varchar(255) columns; a longer one fails the
# import ("Database operation failed") after the old realm was already deleted.
MAX_CLIENT_TEXT = 255


def representation(*, local: bool = True, demo: bool = True) -> dict[str, Any]:
    """The realm as Keycloak's import JSON, with local-only and demo parts merged in."""
    rep: dict[str, Any] = json.loads((HERE / "realm-xinyu.json").read_text(encoding="utf-8"))
    if local:
        for path in sorted((HERE / "local").glob("*.client.json")):
            rep.setdefault("clients", []).append(json.loads(path.read_text(encoding="utf-8")))
    if demo:
        users = json.loads((HERE / "demo" / "users.json").read_text(encoding="utf-8"))
        rep.setdefault("users", []).extend(users)
    canonical = json.dumps(rep, sort_keys=True, ensure_ascii=False).encode()
    rep.setdefault("attributes", {})[HASH_ATTRIBUTE] = hashlib.sha256(canonical).hexdigest()
    return rep


def too_long(rep: dict[str, Any]) -> list[str]:
    """Client fields Keycloak's database cannot hold, checked before anything is deleted."""
    return [
        f"client {client.get('clientId')}: {field} has {len(client[field])} characters"
        for client in rep.get("clients", [])
        for field in ("name", "description")
        if len(client.get(field) or "") > MAX_CLIENT_TEXT
    ]


class Keycloak:
    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        form = {"grant_type": "password", "client_id": "admin-cli"}
        form |= {"username": user, "password": password}
        token = self.call("POST", "/realms/master/protocol/openid-connect/token", form=form)
        self.token = str(token["access_token"])

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - fixed local http URL
            self.base_url + path, data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    def realm(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call("GET", f"/admin/realms/{name}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8180")
    parser.add_argument("--admin-user", default="admin")
    parser.add_argument("--admin-password", default="dev-keycloak-admin")
    parser.add_argument("--print", action="store_true", help="print the representation and exit")
    parser.add_argument("--quiet", action="store_true")
    ns = parser.parse_args(argv)
    rep = representation()
    if ns.print:
        print(json.dumps(rep, indent=2, ensure_ascii=False))
        return 0
    if problems := too_long(rep):
        print(
            f"[keycloak] ERROR, at most {MAX_CLIENT_TEXT}: " + "; ".join(problems), file=sys.stderr
        )
        return 1
    kc = Keycloak(ns.url, ns.admin_user, ns.admin_password)
    existing = kc.realm(REALM)
    want = rep["attributes"][HASH_ATTRIBUTE]
    if existing is not None:
        have = (existing.get("attributes") or {}).get(HASH_ATTRIBUTE)
        if have == want:
            print(f"[keycloak] realm {REALM} already in place ({want[:12]})")
            return 0
        print(f"[keycloak] realm {REALM} differs from infra/keycloak/: deleting and re-importing")
        kc.call("DELETE", f"/admin/realms/{REALM}")
    kc.call("POST", "/admin/realms", body=rep)
    print(
        f"[keycloak] imported realm {REALM} ({want[:12]}): {len(rep.get('clients', []))} clients, "
        f"{len(rep.get('users', []))} users"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except urllib.error.HTTPError as exc:
        print(f"[keycloak] ERROR {exc.code} {exc.url}: {exc.read()[:2000]!r}", file=sys.stderr)
        sys.exit(1)
