"""Broker user management through Mosquitto 2's dynamic-security plugin.

The plugin is driven over MQTT itself: JSON commands published to ``$CONTROL/dynamic-security/v1``
by an admin client, answers read from ``.../response``. A home is one broker client (username =
home id) holding one role that grants publish and subscribe only under ``{root}/v1/{home_id}/#``;
platform services hold a shared service role. The seam is :class:`BrokerAdmin`: another broker
(EMQX's HTTP API, for one) can implement the same four operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiomqtt

from eldercare.config import MqttEndpoint, Settings
from eldercare.contracts.topics import DOWNSTREAM_KINDS, UPSTREAM_KINDS, everything, home_topic, shared_subscription
from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt import MqttError, connect

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
SERVICE_ROLE = "eldercare-service"
_ALREADY = ("already exists",)
_NOT_FOUND = ("not found",)


class DynsecError(PermanentError):
    """The plugin refused a command (the message names the command and the plugin's reason)."""


class DynsecAdminRefusedError(DynsecError):
    """The broker refused the admin client's connection (wrong admin username or password)."""


def home_role(home_id: str) -> str:
    return f"eldercare-home-{home_id}"


def home_acls(root: str, home_id: str) -> list[dict[str, Any]]:
    """Publish the home's upstream kinds, read its downstream kinds, nothing else (the plugin denies by
    default): a gateway cannot overwrite its own retained config (contracts/topics.py)."""
    acls = [
        {"acltype": "publishClientSend", "topic": home_topic(root, kind, home_id=home_id), "allow": True, "priority": 0}
        for kind in UPSTREAM_KINDS
    ]
    for kind in DOWNSTREAM_KINDS:
        topic = home_topic(root, kind, home_id=home_id)
        acls.append({"acltype": "subscribePattern", "topic": topic, "allow": True, "priority": 0})
        acls.append({"acltype": "publishClientReceive", "topic": topic, "allow": True, "priority": 0})
    return acls


def service_acls(root: str) -> list[dict[str, Any]]:
    """Platform services read everything under the root (ingest dead-letters what does not belong) and
    write the downstream kinds (the retained config) of every home."""
    tree = everything(root)
    acls = [
        {"acltype": "subscribePattern", "topic": tree, "allow": True, "priority": 0},
        # Mosquitto 2.0 checks a shared subscription with its "$share/<group>/" prefix.
        {"acltype": "subscribePattern", "topic": shared_subscription("+", tree), "allow": True, "priority": 0},
        {"acltype": "publishClientReceive", "topic": tree, "allow": True, "priority": 0},
    ]
    acls.extend(
        {"acltype": "publishClientSend", "topic": home_topic(root, kind, home_id="+"), "allow": True, "priority": 0}
        for kind in DOWNSTREAM_KINDS
    )
    return acls


def acl_text(acl: Mapping[str, Any]) -> str:
    """One ACL as an operator reads it: ``subscribePattern eldercare/v1/+/# allow``."""
    text = f"{acl['acltype']} {acl['topic']} {'allow' if acl.get('allow') else 'deny'}"
    priority = int(acl.get("priority", 0))
    return text if priority == 0 else f"{text} (priority {priority})"


def _acl_key(acl: Mapping[str, Any]) -> tuple[str, str]:
    return str(acl["acltype"]), str(acl["topic"])


def _same_acl(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(a.get("allow")) == bool(b.get("allow")) and int(a.get("priority", 0)) == int(b.get("priority", 0))


@dataclass(frozen=True)
class ServiceAccountReport:
    """What :meth:`BrokerAdmin.apply_service_account` found and did.

    ``acls`` are the service role's ACLs (now in force); ``changes`` lists each change made, empty when
    the broker already held exactly this account; ``notes`` are things seen but left alone.
    """

    role: str
    username: str
    acls: tuple[dict[str, Any], ...]
    changes: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class BrokerAdmin:
    """Sends dynamic-security commands as the broker's admin client.

    Each operation opens its own short connection; to provision many homes (the simulator), open one
    :meth:`session` and call the same operations on it.
    """

    settings: Settings
    endpoint: MqttEndpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerAdmin | None:
        """The admin configured in ``ELDERCARE_API__BROKER_ADMIN_*``, or None when there is none."""
        api = settings.api
        if api.broker_admin_username is None or api.broker_admin_password is None:
            return None
        password = api.broker_admin_password.get_secret_value()
        return cls(settings, settings.mqtt_endpoint.with_credentials(api.broker_admin_username, password))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DynsecSession]:
        """One admin connection for several commands.

        Raises DynsecError when the broker refuses the admin credentials (a misconfiguration, not the
        caller's fault) and TransientError when it cannot be reached.
        """
        client_id = f"eldercare-dynsec-{uuid.uuid4().hex[:12]}"
        async with contextlib.AsyncExitStack() as stack:
            try:
                client = await stack.enter_async_context(connect(self.settings, client_id=client_id, endpoint=self.endpoint))
                await client.subscribe(RESPONSE_TOPIC, qos=1)
            except PermanentError as exc:
                raise DynsecAdminRefusedError(f"the broker refused the dynamic-security admin: {exc}") from exc
            except MqttError as exc:
                raise TransientError(f"dynamic-security exchange failed: {exc}") from exc
            yield DynsecSession(client, self.settings.mqtt.connect_timeout_s)

    async def provision_home(self, root: str, home_id: str, password: str) -> None:
        async with self.session() as session:
            await session.provision_home(root, home_id, password)

    async def set_password(self, username: str, password: str) -> None:
        async with self.session() as session:
            await session.set_password(username, password)

    async def remove_home(self, home_id: str) -> None:
        async with self.session() as session:
            await session.remove_home(home_id)

    async def apply_service_account(self, root: str, username: str, password: str) -> ServiceAccountReport:
        """Create the platform's service account, or bring it back to what it must be. Idempotent.

        The role :data:`SERVICE_ROLE` ends up with exactly :func:`service_acls` (missing ACLs added,
        changed or foreign ones removed); the client ``username`` exists, is enabled, is not bound to
        one client id (every ingest and alerts copy connects with its own), holds the role, and
        accepts ``password``. The plugin never reveals a password, so the current one is checked by
        connecting with it and set only when the broker refuses it. Roles and groups the client holds
        besides the service role are reported in ``notes`` and left alone. A client holding a home's
        role is refused (DynsecError): re-keying it would lock a home out.
        """
        acls = service_acls(root)
        async with self.session() as session:
            client = await session.get_client(username)
            roles = {str(r.get("rolename")) for r in (client or {}).get("roles", [])}
            if homes := sorted(role for role in roles if role.startswith(home_role(""))):
                raise DynsecError(f"client {username} is a home's account (role {homes[0]}); choose another service username")
            changes = await session.apply_role(SERVICE_ROLE, acls)
            notes: list[str] = []
            if client is None:
                create = {"command": "createClient", "username": username, "password": password}
                await session.execute([{**create, "roles": [{"rolename": SERVICE_ROLE}]}])
                changes.append(f"created client {username} with role {SERVICE_ROLE}")
            else:
                if client.get("disabled"):
                    await session.execute([{"command": "enableClient", "username": username}])
                    changes.append(f"enabled client {username}")
                if client.get("clientid"):
                    await session.execute([{"command": "setClientId", "username": username}])
                    changes.append(f"removed client {username}'s binding to client id {client['clientid']}")
                if SERVICE_ROLE not in roles:
                    await session.execute([{"command": "addClientRole", "username": username, "rolename": SERVICE_ROLE}])
                    changes.append(f"gave client {username} role {SERVICE_ROLE}")
                if not await self.accepts(username, password):
                    await session.set_password(username, password)
                    changes.append(f"set client {username}'s password (the broker refused the configured one)")
                if others := sorted(roles - {SERVICE_ROLE}):
                    notes.append(f"client {username} also holds role(s) {', '.join(others)}: left as they are")
                if groups := sorted(str(g.get("groupname")) for g in client.get("groups", [])):
                    notes.append(f"client {username} is in group(s) {', '.join(groups)}: left as they are")
        return ServiceAccountReport(SERVICE_ROLE, username, tuple(acls), tuple(changes), tuple(notes))

    async def accepts(self, username: str, password: str) -> bool:
        """Whether the broker lets ``username`` connect with ``password`` (a clean session; nothing is sent).

        False when the broker refuses the credentials; TransientError when it cannot be reached.
        """
        client_id = f"eldercare-check-{uuid.uuid4().hex[:12]}"
        try:
            async with connect(self.settings, client_id=client_id, endpoint=self.endpoint.with_credentials(username, password)):
                return True
        except PermanentError:
            return False


class DynsecSession:
    """Commands over one connected admin client; answers are matched by correlation data."""

    def __init__(self, client: aiomqtt.Client, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def execute(self, commands: list[dict[str, Any]], *, tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Run ``commands`` in order; raise DynsecError on an error unless its text contains one of ``tolerate``."""
        correlation = uuid.uuid4().hex
        tagged = [{**command, "correlationData": f"{correlation}-{i}"} for i, command in enumerate(commands)]
        try:
            await self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}).encode(), qos=1)
            responses = await self._answer(correlation)
        except MqttError as exc:
            raise TransientError(f"dynamic-security exchange failed: {exc}") from exc
        for response in responses:
            error = response.get("error")
            if error and not any(text in str(error) for text in tolerate):
                raise DynsecError(f"{response.get('command')}: {error}")
        return responses

    async def _answer(self, correlation: str) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(self._timeout_s):
                async for message in self._client.messages:
                    raw = message.payload if isinstance(message.payload, bytes | bytearray) else b"{}"
                    responses = json.loads(bytes(raw).decode()).get("responses", [])
                    mine = [r for r in responses if str(r.get("correlationData", "")).startswith(correlation)]
                    if mine:
                        return mine
        except TimeoutError:
            raise TransientError(f"no dynamic-security answer within {self._timeout_s} s") from None
        raise TransientError("the broker closed the dynamic-security exchange without an answer")

    async def provision_home(self, root: str, home_id: str, password: str) -> None:
        """Create (or re-key) the home's client and its confining role. Idempotent."""
        role, acls = home_role(home_id), home_acls(root, home_id)
        created = await self.execute([{"command": "createRole", "rolename": role, "acls": acls}], tolerate=_ALREADY)
        if created and created[0].get("error"):  # an older role: bring its ACLs to the current contract
            await self.apply_role(role, acls)
        responses = await self.execute(
            [{"command": "createClient", "username": home_id, "password": password, "roles": [{"rolename": role}]}],
            tolerate=_ALREADY,
        )
        if responses and responses[0].get("error"):  # the client existed: set the new password (and role)
            await self.set_password(home_id, password)
            if role not in await self.client_roles(home_id):
                # Mosquitto 2.0 answers addClientRole for a role the client already has with "Internal error".
                await self.execute([{"command": "addClientRole", "username": home_id, "rolename": role}])

    async def get_role(self, rolename: str) -> dict[str, Any] | None:
        """The plugin's description of a role (``rolename``, ``acls``, ...), or None when there is no such role."""
        return await self._get("getRole", "rolename", rolename, "role")

    async def get_client(self, username: str) -> dict[str, Any] | None:
        """The plugin's description of a client (``roles``, ``groups``, ``disabled``, ``clientid``), or None."""
        return await self._get("getClient", "username", username, "client")

    async def _get(self, command: str, key: str, name: str, kind: str) -> dict[str, Any] | None:
        responses = await self.execute([{"command": command, key: name}], tolerate=_NOT_FOUND)
        if not responses or responses[0].get("error"):
            return None
        found = (responses[0].get("data") or {}).get(kind)
        return dict(found) if isinstance(found, dict) else None

    async def apply_role(self, rolename: str, acls: list[dict[str, Any]]) -> list[str]:
        """Make ``rolename`` exist with exactly ``acls``; returns the changes made (empty: it already did).

        Missing ACLs are added before foreign ones are removed, so a running client never loses access it
        keeps; an ACL whose allow or priority differs is removed and added again.
        """
        role = await self.get_role(rolename)
        if role is None:
            await self.execute([{"command": "createRole", "rolename": rolename, "acls": acls}])
            return [f"created role {rolename} with {len(acls)} ACLs"]
        wanted = {_acl_key(acl): acl for acl in acls}
        present = {_acl_key(acl): acl for acl in role.get("acls", [])}
        changes: list[str] = []
        for key, acl in wanted.items():
            if key in present and _same_acl(present[key], acl):
                continue
            if key in present:
                await self.execute([{"command": "removeRoleACL", "rolename": rolename, "acltype": key[0], "topic": key[1]}])
                changes.append(f"removed from role {rolename}: {acl_text(present[key])}")
            await self.execute([{"command": "addRoleACL", "rolename": rolename, **acl}])
            changes.append(f"added to role {rolename}: {acl_text(acl)}")
        for key, acl in present.items():
            if key not in wanted:
                await self.execute([{"command": "removeRoleACL", "rolename": rolename, "acltype": key[0], "topic": key[1]}])
                changes.append(f"removed from role {rolename}: {acl_text(acl)}")
        return changes

    async def client_roles(self, username: str) -> set[str]:
        client = await self.get_client(username) or {}
        return {str(r.get("rolename")) for r in client.get("roles", [])}

    async def set_password(self, username: str, password: str) -> None:
        """Replace a client's password; connections with the old one are refused from now on."""
        await self.execute([{"command": "setClientPassword", "username": username, "password": password}])

    async def remove_home(self, home_id: str) -> None:
        await self.execute(
            [{"command": "deleteClient", "username": home_id}, {"command": "deleteRole", "rolename": home_role(home_id)}],
            tolerate=_NOT_FOUND,
        )
