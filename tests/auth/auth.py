"""The custom auth the auth tests serve (`langgraph.json` → `auth.path`).

Bearer tokens name users. Threads are stamped with `owner` and `participants` on
creation; reading and searching needs to be a participant (`$contains`), changing,
running and deleting needs to be the owner (`$eq`); deleting also needs the
`threads:delete` permission (403 otherwise). Assistants are readable by all and
writable by their owner; crons are stamped with and visible to their owner; the store
is scoped to a namespace per user.
"""

from langgraph_sdk import Auth

USERS = {
    "token-alice": {"identity": "alice", "display_name": "Alice", "permissions": ["threads:delete"]},
    "token-bob": {"identity": "bob", "permissions": ["threads:delete"]},
    "token-carol": {"identity": "carol", "permissions": []},
    "token-dave": {"identity": "dave", "permissions": []},
}

COUNTED = {"calls": 0}

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None, headers: dict) -> Auth.types.MinimalUserDict:
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token:  # the inbox may also sign in with a cookie
        cookies = dict(part.strip().split("=", 1) for part in headers.get(b"cookie", b"").decode().split(";") if "=" in part)
        token = cookies.get("waypoint_token", "")
    if token == "boom":
        raise RuntimeError("token store unreachable")
    if token == "token-counted":  # tells how many times it was authenticated (auth.cache)
        COUNTED["calls"] += 1
        return {"identity": "counted", "display_name": f"counted #{COUNTED['calls']}"}
    if token not in USERS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid or missing token",
                                            headers={"WWW-Authenticate": "Bearer"})
    return USERS[token]


@auth.on
async def deny_by_default(ctx: Auth.types.AuthContext, value) -> bool:
    return False


@auth.on.threads.create
async def stamp_thread(ctx: Auth.types.AuthContext, value):
    metadata = value.setdefault("metadata", {})
    if metadata.get("explode"):  # a bug in a handler
        raise KeyError("explode")
    invited = [str(u) for u in metadata.pop("invite", [])]
    metadata.update(owner=ctx.user.identity, participants=[ctx.user.identity, *invited])


@auth.on.threads.read
@auth.on.threads.search
async def participants_read(ctx: Auth.types.AuthContext, value):
    return {"participants": {"$contains": ctx.user.identity}}


@auth.on.threads.update
@auth.on.threads.create_run
async def owner_writes(ctx: Auth.types.AuthContext, value):
    if ctx.action == "create_run":
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
    return {"owner": {"$eq": ctx.user.identity}}


@auth.on.threads.delete
async def owner_deletes(ctx: Auth.types.AuthContext, value):
    if "threads:delete" not in ctx.permissions:
        return False
    return {"owner": ctx.user.identity}


@auth.on.assistants.read
@auth.on.assistants.search
async def assistants_readable(ctx, value):
    return True


@auth.on.assistants.create
async def stamp_assistant(ctx, value):
    value.setdefault("metadata", {})["owner"] = ctx.user.identity


@auth.on.assistants.update
@auth.on.assistants.delete
async def assistant_owner(ctx, value):
    return {"owner": ctx.user.identity}


@auth.on.crons.create
async def stamp_cron(ctx: Auth.types.AuthContext, value):
    value.setdefault("metadata", {})["owner"] = ctx.user.identity


@auth.on.crons.read
@auth.on.crons.search
@auth.on.crons.update
@auth.on.crons.delete
async def cron_owner(ctx: Auth.types.AuthContext, value):
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value):
    value["namespace"] = (ctx.user.identity, *value.get("namespace", ()))
