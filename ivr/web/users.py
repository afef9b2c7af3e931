"""Admins manage console users and read the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ivr.core.errors import IvrError
from ivr.web.api import Api, ApiCall, ApiError
from ivr.web.passwords import ROLES, check_role, hash_password

api = Api()
ADMIN = frozenset({"admin"})


class UserOut(BaseModel):
    """A console user as admins see it."""

    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    """Every console user, and the roles one can have."""

    users: list[UserOut]
    roles: list[str]


class NewUser(BaseModel):
    """A user to create."""

    username: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: str
    password: str = Field(min_length=1, max_length=1024)
    display_name: str = Field(default="", max_length=255)


class UserChange(BaseModel):
    """Fields to change on a user (omitted ones stay)."""

    role: str | None = None
    display_name: str | None = Field(default=None, max_length=255)
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class AuditQuery(BaseModel):
    """Filter and page the audit log."""

    action: str = ""
    actor: str = ""
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class AuditOut(BaseModel):
    """One audit line."""

    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


class AuditPage(BaseModel):
    """A page of audit lines, newest first."""

    lines: list[AuditOut]
    total: int
    limit: int
    offset: int


def _out(u: Any) -> UserOut:
    return UserOut(username=u.username, display_name=u.display_name, role=u.role, disabled=u.disabled,
                   created_at=u.created_at, last_login_at=u.last_login_at)  # fmt: skip


@api.route("GET", "/api/users", roles=ADMIN, summary="List users", tag="users", response=UserList)
async def list_users(call: ApiCall) -> UserList:
    """Every user with role and last login."""
    users = await call.ctx.store.console.list_users()
    return UserList(users=[_out(u) for u in users], roles=list(ROLES))


@api.route("POST", "/api/users", roles=ADMIN, summary="Create a user", tag="users", body=NewUser, response=UserOut,
           status=201)  # fmt: skip
async def create_user(call: ApiCall) -> UserOut:
    """Create a user with a role and an initial password."""
    body: NewUser = call.body
    try:
        check_role(body.role)
        await call.ctx.store.console.add_user(body.username, role=body.role, display_name=body.display_name,
                                              password_hash=hash_password(body.password))  # fmt: skip
    except IvrError as exc:
        raise ApiError(400, str(exc)) from None
    await call.audit("user.create", body.username, role=body.role)
    return await _one(call, body.username)


@api.route("PATCH", "/api/users/{username}", roles=ADMIN, summary="Change a user", tag="users", body=UserChange,
           response=UserOut)  # fmt: skip
async def change_user(call: ApiCall) -> UserOut:
    """Change role, name, disabled, or set a new password."""
    body: UserChange = call.body
    name = call.params["username"]
    fields: dict[str, Any] = {k: v for k, v in body.model_dump().items() if v is not None and k != "password"}
    try:
        if body.role is not None:
            check_role(body.role)
        if body.password is not None:
            fields["password_hash"] = hash_password(body.password)
        if name == call.user.username and (body.disabled or (body.role and body.role != "admin")):
            raise ApiError(400, "you cannot disable yourself or take away your own admin role; ask another admin")
        await call.ctx.store.console.update_user(name, **fields)
    except IvrError as exc:
        raise ApiError(404 if "no user" in str(exc) else 400, str(exc)) from None
    changed = sorted(k if k != "password_hash" else "password" for k in fields)
    await call.audit("user.change", name, changed=changed, role=body.role, disabled=body.disabled)
    return await _one(call, name)


async def _one(call: ApiCall, name: str) -> UserOut:
    for u in await call.ctx.store.console.list_users():
        if u.username == name:
            return _out(u)
    raise ApiError(404, f"no user {name!r}")


@api.route("GET", "/api/audit", roles=ADMIN, summary="Read the audit log", tag="audit", query=AuditQuery,
           response=AuditPage)  # fmt: skip
async def audit_log(call: ApiCall) -> AuditPage:
    """Logins, publishes, rollbacks, user changes, playback and downloads, newest first."""
    q: AuditQuery = call.query
    lines, total = await call.ctx.store.console.list_audit(limit=q.limit, offset=q.offset, action=q.action,
                                                            actor=q.actor)  # fmt: skip
    out = [AuditOut(at=x.at, actor=x.actor, role=x.role, action=x.action, target=x.target, detail=x.detail,
                    address=x.address) for x in lines]  # fmt: skip
    return AuditPage(lines=out, total=total, limit=q.limit, offset=q.offset)


api.page("/users", "users.html", title="Users", roles=ADMIN, route=list_users)
api.page("/audit", "audit.html", title="Audit log", roles=ADMIN, route=audit_log)
