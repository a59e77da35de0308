"""People's accounts in Keycloak, through its admin REST API (python-keycloak, async calls).

One account at a time, identity authenticates as itself: client credentials of its confidential
client ``identity``, whose service account holds only the user roles of realm-management
(infra/keycloak/realm-xinyu.json); it reads (user, realm role mappings, groups), then writes only
what :func:`plan` asks for. In bulk: the realm's partial import, ``ifResourceExists=SKIP``, in
small batches, sent **only** as the separate client ``identity-bulk``
(``IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID/SECRET``), the one client holding ``manage-realm``,
configured in bulk Jobs and never in the serving process. See
docs/decisions/0009-keycloak-provisioning.md for why and for the measured figures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakConnectionError, KeycloakError

from identity.adapters.keycloak.settings import KeycloakAdminSettings, admin_endpoint
from identity.domain.accounts import (
    AccountPlan,
    ActualAccount,
    BulkReport,
    DesiredAccount,
    sync,
)
from xinyu_core.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from xinyu_core.settings import KeycloakSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
ORG_UNIT = "org_unit"
BULK_CLIENT_ID = "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_ID"
BULK_CLIENT_SECRET = "IDENTITY_KEYCLOAK_ADMIN__BULK_CLIENT_SECRET"  # noqa: S105 - a name
# What a 401/403 means, per client: identity's own for one account, the bulk client for imports.
SINGLE_DENIED = (
    "identity's Keycloak client (IDENTITY_KEYCLOAK__CLIENT_ID) may not do this: is its secret "
    "right, and does its service account hold the realm-management user roles of "
    "infra/keycloak/realm-xinyu.json?"
)
BULK_DENIED = (
    f"the bulk client ({BULK_CLIENT_ID}) may not do a partial import: is its secret right, and "
    "does its service account hold realm-management manage-realm (client identity-bulk in "
    "infra/keycloak/realm-xinyu.json)?"
)


@dataclass
class AdminCalls:
    """Admin requests this directory sent: a sync that finds nothing to do adds no write."""

    reads: int = 0
    writes: int = 0


@dataclass(frozen=True)
class GroupSpec:
    """A group that should exist: its path and the attributes it is created with."""

    path: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class GroupReport:
    """The outcome of :meth:`KeycloakAccountDirectory.mirror_groups`, in counts; ``failed``
    maps a group path (unit codes, no personal data) to a reason."""

    created: int = 0
    existing: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class KeycloakUnreachable(Unavailable):
    """No answer from Keycloak at all (down, timed out). A bulk run stops on this rather than
    fail every remaining account one by one."""


class BulkClientMissing(FailedPrecondition):
    """Bulk provisioning was asked of a directory built without the bulk client: partial import
    is never sent as identity's own client, which does not hold ``manage-realm``."""


def _translate(exc: KeycloakError, *, denied: str = SINGLE_DENIED) -> DomainError:
    code = exc.response_code
    if isinstance(exc, KeycloakConnectionError) or code is None:
        return KeycloakUnreachable("Keycloak admin API did not answer")
    if code >= 500:
        return Unavailable(f"Keycloak failed the request ({code}); its log says why")
    if code in (401, 403):
        return PermissionDenied(denied)
    if code == 404:
        return NotFound("no such Keycloak resource")
    if code == 409:
        return AlreadyExists("the account already exists (same username or e-mail)")
    return InvalidArgument("account", f"Keycloak refused it ({code}): {_reason(exc)}")


def _reason(exc: KeycloakError) -> str:
    # Keycloak's messages name fields and rules (e.g. "org_unit ... pattern"), not values.
    return str(exc.error_message)[:200]


def _connection(
    keycloak: KeycloakSettings, settings: KeycloakAdminSettings, client_id: str, secret: str
) -> KeycloakOpenIDConnection:
    server, realm = admin_endpoint(keycloak.issuer)
    return KeycloakOpenIDConnection(
        server_url=server,
        realm_name=realm,
        user_realm_name=realm,
        client_id=client_id,
        client_secret_key=secret,
        grant_type="client_credentials",
        timeout=settings.timeout_seconds,
        # One connection per request in flight, and no more: Keycloak shares the 2 cores.
        pool_maxsize=max(settings.bulk_concurrency, settings.sync_concurrency) * 2,
    )


class KeycloakAccountDirectory:
    """:class:`~identity.domain.accounts.AccountDirectory` on Keycloak's admin API."""

    def __init__(
        self,
        admin: KeycloakAdmin,
        settings: KeycloakAdminSettings | None = None,
        *,
        bulk_admin: KeycloakAdmin | None = None,
    ) -> None:
        self._admin = admin
        # Partial import goes through this client only; None: bulk_upsert refuses to run.
        self._bulk = bulk_admin
        self._settings = settings or KeycloakAdminSettings()
        self.realm = str(admin.connection.realm_name)
        self.calls = AdminCalls()
        self._role_reps: dict[str, dict[str, Any]] | None = None
        self._default_role: str | None = None
        self._group_ids: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, keycloak: KeycloakSettings, settings: KeycloakAdminSettings | None = None
    ) -> KeycloakAccountDirectory:
        """identity's own client from ``keycloak`` (``IDENTITY_KEYCLOAK__CLIENT_ID/SECRET``) for
        single accounts; the bulk client from ``settings`` (``IDENTITY_KEYCLOAK_ADMIN__BULK_
        CLIENT_ID/SECRET``), when set, for partial imports and nothing else."""
        settings = settings or KeycloakAdminSettings()
        secret = keycloak.client_secret.get_secret_value()
        if not keycloak.client_id or not secret:
            raise InvalidArgument(
                "keycloak.client_id",
                "identity needs its own client (IDENTITY_KEYCLOAK__CLIENT_ID/SECRET) to "
                "administer accounts",
            )
        admin = KeycloakAdmin(
            connection=_connection(keycloak, settings, keycloak.client_id, secret)
        )
        bulk = None
        bulk_id = settings.bulk_client_id
        bulk_secret = settings.bulk_client_secret.get_secret_value()
        if bulk_id or bulk_secret:
            if not bulk_id:
                raise InvalidArgument(BULK_CLIENT_ID, f"missing, while {BULK_CLIENT_SECRET} is set")
            if not bulk_secret:
                raise InvalidArgument(BULK_CLIENT_SECRET, f"missing, while {BULK_CLIENT_ID} is set")
            if bulk_id == keycloak.client_id:
                raise InvalidArgument(
                    BULK_CLIENT_ID,
                    "must be a client of its own (identity-bulk), not identity's: only the bulk "
                    "client may hold manage-realm",
                )
            bulk = KeycloakAdmin(connection=_connection(keycloak, settings, bulk_id, bulk_secret))
        return cls(admin, settings, bulk_admin=bulk)

    @property
    def admin(self) -> KeycloakAdmin:
        """The python-keycloak client, for admin calls this adapter does not wrap (tests set a
        password with it; identity itself never does)."""
        return self._admin

    @property
    def can_bulk(self) -> bool:
        """Whether this directory has the bulk client, without which bulk_upsert refuses."""
        return self._bulk is not None

    async def aclose(self) -> None:
        clients = (self._admin,) if self._bulk is None else (self._admin, self._bulk)
        for admin in {id(a): a for a in clients}.values():
            await admin.connection.aclose()
            await admin.connection.keycloak_openid.connection.aclose()

    # --- one account ------------------------------------------------------------------------

    async def get(self, username: str) -> ActualAccount | None:
        rep = await self._find(username)
        if rep is None:
            return None
        user_id = str(rep["id"])
        roles, groups = await asyncio.gather(
            self._read(self._admin.a_get_realm_roles_of_user(user_id)),
            self._read(
                self._admin.a_get_user_groups(
                    user_id, query={"first": 0, "max": 100}, brief_representation=True
                )
            ),
        )
        return _actual(rep, roles, groups)

    async def create(self, account: DesiredAccount) -> ActualAccount:
        rep = _representation(account)
        if account.group_path:
            await self._group_id(account.group_path)  # refuse an unknown group before writing
            rep["groups"] = [account.group_path]
        role_reps = await self._roles(account.roles)
        user_id = await self._write(self._admin.a_create_user(rep))
        # Keycloak's create ignores realmRoles (only the realm's default role is mapped), so
        # roles are a second call. Should it fail, the account exists without them and the
        # next sync of this person adds them.
        if role_reps:
            await self._write(self._admin.a_assign_realm_roles(user_id, role_reps))
        log.info("keycloak account created", extra={"roles": sorted(account.roles)})
        return ActualAccount(
            id=user_id,
            username=account.username,
            first_name=account.first_name,
            last_name=account.last_name,
            email=account.email,
            enabled=account.enabled,
            org_unit=account.org_unit,
            roles=account.roles,
            group_paths=frozenset({account.group_path}) if account.group_path else frozenset(),
            attributes={ORG_UNIT: (account.org_unit,)},
        )

    async def update(self, change: AccountPlan) -> None:
        actual, desired = change.actual, change.desired
        if actual is None:
            raise InvalidArgument("change", "a plan that creates the account is for create()")
        if change.updates_representation:
            await self._write(self._admin.a_update_user(actual.id, _update(desired, actual)))
        if change.roles_added:
            reps = await self._roles(change.roles_added)
            await self._write(self._admin.a_assign_realm_roles(actual.id, reps))
        if change.roles_removed:
            reps = await self._roles(change.roles_removed)
            await self._write(self._admin.a_delete_realm_roles_of_user(actual.id, reps))
        for path in sorted(change.groups_joined):
            group_id = await self._group_id(path)
            await self._write(self._admin.a_group_user_add(actual.id, group_id))
        for path in sorted(change.groups_left):
            group_id = await self._group_id(path)
            await self._write(self._admin.a_group_user_remove(actual.id, group_id))
        if change.enable is False:
            # Disabling stops new tokens; ending the sessions also kills refresh tokens. Access
            # tokens already issued live out their 5 minutes (services verify them offline).
            await self._write(self._admin.a_user_logout(actual.id))
        log.info("keycloak account updated", extra={"change": change.summary()})

    async def disable(self, username: str) -> bool:
        rep = await self._find(username)
        if rep is None:
            return False
        if rep.get("enabled", True):
            # Only `enabled` is sent: Keycloak keeps the other fields when no attributes are.
            await self._write(self._admin.a_update_user(str(rep["id"]), {"enabled": False}))
            await self._write(self._admin.a_user_logout(str(rep["id"])))
            log.info("keycloak account disabled")
        return True

    # --- many accounts ----------------------------------------------------------------------

    async def bulk_upsert(
        self, accounts: Sequence[DesiredAccount], *, reconcile_existing: bool = True
    ) -> BulkReport:
        """Partial imports as the bulk client; the accounts they skip or refuse go through the
        single path as identity's own client. Raises :class:`BulkClientMissing` (before any
        request) when this directory has no bulk client."""
        if self._bulk is None:
            raise BulkClientMissing(
                f"bulk provisioning needs the bulk client: set {BULK_CLIENT_ID} and "
                f"{BULK_CLIENT_SECRET} (client identity-bulk; in a bulk Job, not in the serving "
                "process). Partial import is never sent as identity's own client."
            )
        bulk = self._bulk
        report = BulkReport()
        counts: dict[str, int] = {}
        for account in accounts:
            counts[account.username] = counts.get(account.username, 0) + 1
        valid: list[DesiredAccount] = []
        for account in accounts:
            if counts[account.username] > 1:
                report.failed[account.username] = "listed more than once in one bulk upsert"
                continue
            if account.group_path:
                try:
                    await self._group_id(account.group_path)
                except InvalidArgument:
                    report.failed[account.username] = "group_path: no such group in Keycloak"
                    continue
            valid.append(account)
        default_role = await self._default_role_name()
        existing: list[DesiredAccount] = []
        size = self._settings.bulk_batch_size
        batches = [valid[i : i + size] for i in range(0, len(valid), size)]

        async def import_batch(batch: list[DesiredAccount]) -> None:
            await self._import(bulk, batch, default_role, report, existing)

        await _pool(batches, import_batch, self._settings.bulk_concurrency)
        if not reconcile_existing:
            report.skipped.extend(a.username for a in existing)
        else:

            async def reconcile(account: DesiredAccount) -> None:
                await self._sync_into(report, account)

            await _pool(existing, reconcile, self._settings.sync_concurrency)
        log.info(
            "keycloak bulk upsert",
            extra={
                "accounts_created": len(report.created),
                "accounts_updated": len(report.updated),
                "accounts_unchanged": len(report.unchanged),
                "accounts_skipped": len(report.skipped),
                "accounts_failed": len(report.failed),
            },
        )
        return report

    async def _import(
        self,
        bulk: KeycloakAdmin,
        batch: list[DesiredAccount],
        default_role: str,
        report: BulkReport,
        existing: list[DesiredAccount],
    ) -> None:
        """One partial import. It is one transaction in Keycloak: one bad account fails the
        whole batch, so a refused batch is split in halves until the bad ones stand alone.
        SKIP makes every retry safe: what a failed-looking request did commit is skipped."""
        payload = {
            "ifResourceExists": "SKIP",
            "users": [_import_representation(a, default_role) for a in batch],
        }
        result: dict[str, Any] | None = None
        for attempt in (1, 2):
            try:
                self.calls.writes += 1
                result = await bulk.a_partial_import_realm(self.realm, payload)
                break
            except KeycloakConnectionError as exc:
                # No answer (timeout, reset): the batch may or may not have committed; resend.
                if attempt == 2:
                    raise _translate(exc) from exc
            except KeycloakError as exc:
                if exc.response_code in (401, 403):
                    raise _translate(exc, denied=BULK_DENIED) from exc
                if len(batch) == 1:
                    # Alone and still refused (Keycloak's import answers most refusals with a
                    # bare 500): the single-account path either gets it in or says why not.
                    await self._sync_into(report, batch[0])
                    return
                half = len(batch) // 2
                await self._import(bulk, batch[:half], default_role, report, existing)
                await self._import(bulk, batch[half:], default_role, report, existing)
                return
        assert result is not None
        actions = {
            str(r.get("resourceName")): str(r.get("action"))
            for r in result.get("results", [])
            if r.get("resourceType") == "USER"
        }
        for account in batch:
            action = actions.get(account.username)
            if action == "ADDED":
                report.created.append(account.username)
            elif action == "SKIPPED":
                existing.append(account)
            else:
                report.failed[account.username] = f"Keycloak's import answered {action}"

    async def _sync_into(self, report: BulkReport, account: DesiredAccount) -> None:
        try:
            change = await sync(self, account)
        except (KeycloakUnreachable, PermissionDenied):
            raise
        except DomainError as exc:
            report.failed[account.username] = exc.message
            return
        if change.create:
            report.created.append(account.username)
        elif change.is_empty:
            report.unchanged.append(account.username)
        else:
            report.updated.append(account.username)

    # --- first sign-in ----------------------------------------------------------------------

    async def set_password(self, username: str, password: str) -> bool:
        """Give the account a (non-temporary) password through the admin API's reset-password,
        as identity's own client. False when there is no such account. Keycloak's password
        policy is the last word: a password it refuses raises InvalidArgument on
        ``new_password``, naming the rule, never the password."""
        rep = await self._find(username)
        if rep is None:
            return False
        try:
            self.calls.writes += 1
            await self._admin.a_set_user_password(str(rep["id"]), password, temporary=False)
        except KeycloakError as exc:
            if exc.response_code == 400:
                raise InvalidArgument(
                    "new_password", f"the realm's password policy refused it: {_reason(exc)}"
                ) from exc
            raise _translate(exc) from exc
        log.info("keycloak password set")
        return True

    # --- the group tree ---------------------------------------------------------------------

    async def mirror_groups(self, groups: Sequence[GroupSpec], *, bulk: bool = True) -> GroupReport:
        """Make every group of ``groups`` exist, parents before children. Per parent, its
        children are listed once (pages of 500) and only the missing ones are created (one
        admin call each, ``sync_concurrency`` in flight), so a second run only reads.

        ``bulk`` sends the writes as the bulk client when this directory has one (the
        ``identity provision groups`` Job); otherwise, and for the single groups the account
        sync worker creates, identity's own client (``manage-users`` covers groups). Partial
        import is not used: with SKIP it skips an existing parent together with every child
        given under it (measured in services/identity/benchmarks/keycloak_groups.py)."""
        report = GroupReport()
        admin = self._bulk if bulk and self._bulk is not None else self._admin
        by_parent: dict[str, list[GroupSpec]] = {}
        for spec in {g.path: g for g in groups}.values():
            parent, _, name = spec.path.rpartition("/")
            if not name:
                report.failed[spec.path] = "not a group path"
                continue
            by_parent.setdefault(parent, []).append(spec)
        for parent in sorted(by_parent, key=lambda p: (p.count("/"), p)):
            children = by_parent[parent]
            parent_id: str | None = None
            if parent:
                try:
                    parent_id = await self._group_id(parent)
                except InvalidArgument:
                    for spec in children:
                        report.failed[spec.path] = "its parent group does not exist"
                    continue
            present = await self._child_names(parent_id)
            missing = [g for g in children if g.path.rpartition("/")[2] not in present]
            report.existing += len(children) - len(missing)

            async def create(spec: GroupSpec, parent_id: str | None = parent_id) -> None:
                payload: dict[str, Any] = {"name": spec.path.rpartition("/")[2]}
                if spec.attributes:
                    payload["attributes"] = {k: [v] for k, v in spec.attributes.items()}
                try:
                    self.calls.writes += 1
                    await admin.a_create_group(payload, parent=parent_id, skip_exists=True)
                except KeycloakError as exc:
                    error = _translate(exc)
                    if isinstance(error, KeycloakUnreachable | PermissionDenied):
                        raise error from exc
                    report.failed[spec.path] = error.message
                    return
                report.created += 1

            await _pool(missing, create, self._settings.sync_concurrency)
            # Progress: parents are the city and county groups (unit names and codes only).
            log.info(
                "keycloak groups under one parent",
                extra={
                    "parent_group": parent or "/",
                    "groups_wanted": len(children),
                    "groups_missing": len(missing),
                    "groups_created_so_far": report.created,
                },
            )
        log.info(
            "keycloak groups mirrored",
            extra={
                "groups_created": report.created,
                "groups_existing": report.existing,
                "groups_failed": len(report.failed),
            },
        )
        return report

    async def _child_names(self, parent_id: str | None) -> set[str]:
        names: set[str] = set()
        first = 0
        while True:
            query = {"first": first, "max": 500, "briefRepresentation": True}
            if parent_id is None:
                page = await self._read(self._admin.a_get_groups(query=query))
            else:
                page = await self._read(self._admin.a_get_group_children(parent_id, query=query))
            names.update(str(g["name"]) for g in page)
            if len(page) < 500:
                return names
            first += 500

    # --- helpers also used by tests, the benchmark and whoever mirrors the school tree ------

    async def ensure_group(self, path: str, attributes: dict[str, str] | None = None) -> str:
        """The id of the group at ``path``, creating it (under an existing parent) if needed."""
        try:
            return await self._group_id(path)
        except InvalidArgument:
            pass
        parent, _, name = path.rpartition("/")
        payload: dict[str, Any] = {"name": name}
        if attributes:
            payload["attributes"] = {k: [v] for k, v in attributes.items()}
        parent_id = await self._group_id(parent) if parent else None
        await self._write(self._admin.a_create_group(payload, parent=parent_id, skip_exists=True))
        return await self._group_id(path)

    async def has_group(self, path: str) -> bool:
        """Whether the group tree has ``path`` (a sync without it leaves the group out)."""
        try:
            await self._group_id(path)
        except InvalidArgument:
            return False
        return True

    async def delete_group(self, path: str) -> None:
        group_id = await self._group_id(path)
        await self._write(self._admin.a_delete_group(group_id))
        self._group_ids.pop(path, None)

    async def delete(self, username: str) -> bool:
        """Remove an account outright (tests and the benchmark clean up with this; people
        leaving are disabled, not deleted, so their history keeps its subject)."""
        rep = await self._find(username)
        if rep is None:
            return False
        await self._write(self._admin.a_delete_user(str(rep["id"])))
        return True

    async def delete_by_prefix(self, prefix: str) -> int:
        """Delete every account whose username starts with ``prefix``; for tests and the
        benchmark, which give their synthetic accounts a prefix nothing real has."""
        if len(prefix) < 6:
            raise InvalidArgument("prefix", "at least 6 characters, so no real account matches")
        deleted, foreign = 0, 0
        while True:
            # `search=<p>*` is Keycloak's prefix search, over e-mails and names too: accounts
            # that matched there but not by username are stepped over, not deleted.
            found = await self._read(
                self._admin.a_get_users(
                    {
                        "search": f"{prefix}*",
                        "first": foreign,
                        "max": 500,
                        "briefRepresentation": True,
                    }
                )
            )
            if not found:
                return deleted
            ids = [str(u["id"]) for u in found if str(u["username"]).startswith(prefix)]
            foreign += len(found) - len(ids)

            async def delete_one(user_id: str) -> None:
                await self._write(self._admin.a_delete_user(user_id))

            await _pool(ids, delete_one, self._settings.sync_concurrency)
            deleted += len(ids)

    # --- plumbing ---------------------------------------------------------------------------

    async def _find(self, username: str) -> dict[str, Any] | None:
        found = await self._read(
            self._admin.a_get_users(
                {"username": username, "exact": True, "briefRepresentation": False, "max": 1}
            )
        )
        return dict(found[0]) if found else None

    async def _roles(self, names: Iterable[str]) -> list[dict[str, Any]]:
        if self._role_reps is None:
            async with self._lock:
                if self._role_reps is None:
                    reps = await self._read(self._admin.a_get_realm_roles(query={}))
                    self._role_reps = {
                        str(r["name"]): {"id": r["id"], "name": r["name"]} for r in reps
                    }
        missing = set(names) - self._role_reps.keys()
        if missing:
            raise InvalidArgument("roles", f"the realm has no role {sorted(missing)}")
        return [self._role_reps[n] for n in sorted(names)]

    async def _default_role_name(self) -> str:
        if self._default_role is None:
            realm = await self._read(self._admin.a_get_realm(self.realm))
            self._default_role = str(realm["defaultRole"]["name"])
        return self._default_role

    async def _group_id(self, path: str) -> str:
        if path not in self._group_ids:
            try:
                group = await self._read(self._admin.a_get_group_by_path(path))
            except NotFound:
                raise InvalidArgument("group_path", "no such group in Keycloak") from None
            self._group_ids[path] = str(group["id"])
        return self._group_ids[path]

    async def _read(self, call: Awaitable[T]) -> T:
        self.calls.reads += 1
        return await self._call(call)

    async def _write(self, call: Awaitable[T]) -> T:
        self.calls.writes += 1
        return await self._call(call)

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except KeycloakError as exc:
            raise _translate(exc) from exc


async def _pool(items: Sequence[T], work: Callable[[T], Awaitable[None]], workers: int) -> None:
    """Run ``work`` over ``items`` with at most ``workers`` in flight; the first error that
    escapes ``work`` cancels the rest and is raised as itself."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(items))):
                group.create_task(worker())
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None


def _representation(account: DesiredAccount) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "username": account.username,
        "firstName": account.first_name,
        "lastName": account.last_name,
        "enabled": account.enabled,
        "attributes": {ORG_UNIT: [account.org_unit]},
    }
    if account.email is not None:
        rep["email"] = account.email
    return rep


def _import_representation(account: DesiredAccount, default_role: str) -> dict[str, Any]:
    rep = _representation(account)
    # Partial import maps exactly the roles listed, not the realm's default role as the admin
    # create does; listing it keeps both paths' accounts alike.
    rep["realmRoles"] = [default_role, *sorted(account.roles)]
    if account.group_path:
        rep["groups"] = [account.group_path]
    return rep


def _update(desired: DesiredAccount, actual: ActualAccount) -> dict[str, Any]:
    """The full representation for PUT /users/{id}. With a declarative user profile, a PUT that
    carries ``attributes`` removes every profile field it leaves out (names, e-mail included),
    so all of them are sent, and attributes identity does not manage are sent back unchanged."""
    rep = _representation(desired)
    rep["attributes"] = {k: list(v) for k, v in actual.attributes.items()} | {
        ORG_UNIT: [desired.org_unit]
    }
    if desired.email is None and actual.email is not None:
        rep["email"] = actual.email
    return rep


def _actual(rep: dict[str, Any], roles: list[Any], groups: list[Any]) -> ActualAccount:
    attributes = {
        str(k): tuple(str(x) for x in v) for k, v in (rep.get("attributes") or {}).items()
    }
    org_unit = attributes.get(ORG_UNIT, ())
    return ActualAccount(
        id=str(rep["id"]),
        username=str(rep["username"]),
        first_name=rep.get("firstName"),
        last_name=rep.get("lastName"),
        email=rep.get("email"),
        enabled=bool(rep.get("enabled", True)),
        org_unit=org_unit[0] if org_unit else None,
        roles=frozenset(str(r["name"]) for r in roles),
        group_paths=frozenset(str(g["path"]) for g in groups),
        attributes=attributes,
    )
