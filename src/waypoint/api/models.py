"""Request bodies of the LangGraph Server API, as `langgraph_sdk` sends them.

Unknown fields are ignored (newer clients send more); known fields are validated so a
bad value is a 422 that names the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictInt, model_validator

StreamMode = Literal[
    "values", "messages", "messages-tuple", "updates", "events", "debug", "custom", "checkpoints", "tasks"
]
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
SortOrder = Literal["asc", "desc"]

#: Largest `offset` accepted: JavaScript's largest exact integer, which every database
#: holds (a larger one only overflowed SQLite's INTEGER).
MAX_OFFSET = 2**53 - 1
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]

#: Longest store item `ttl`, in minutes (about 100 years; beyond it dates overflow).
MAX_TTL_MINUTES = 100 * 365 * 24 * 60
#: Shortest store item `ttl`, in minutes (60 ms; PostgreSQL cannot read the exponent
#: notation in which tinier intervals reach it).
MIN_TTL_MINUTES = 0.001


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def fields(self) -> dict[str, Any]:
        """The body as a dict, without fields the client did not send."""
        return self.model_dump(exclude_unset=True, mode="json")


class RunnableConfig(BaseModel):
    """`Config` of the official API: a LangChain `RunnableConfig`; other keys pass through."""

    model_config = ConfigDict(extra="allow")

    tags: list[str] | None = None
    recursion_limit: StrictInt | None = Field(None, gt=0)
    configurable: dict[str, Any] | None = None


class AssistantCreate(_Body):
    assistant_id: UUID | None = None
    graph_id: str
    config: RunnableConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = None
    description: str | None = None


class AssistantPatch(_Body):
    graph_id: str | None = None
    config: RunnableConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class AssistantSearch(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


class AssistantVersionsSearch(_Body):
    """`AssistantVersionsSearchRequest` of the official API."""

    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0


class AssistantVersionChange(_Body):
    """`AssistantVersionChange` of the official API (the SDK sends it as the body)."""

    version: StrictInt | None = Field(None, ge=1)


class AssistantCount(_Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class ThreadTTL(_Body):
    """A thread's time-to-live: `ttl` minutes from now (renewed by each update of the
    thread), then `strategy` applies."""

    strategy: Literal["delete", "keep_latest"] = "delete"
    ttl: float = Field(ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES)


class ThreadCreate(_Body):
    thread_id: UUID | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    ttl: ThreadTTL | None = None
    supersteps: list[Any] | None = None


class ThreadPatch(_Body):
    metadata: dict[str, Any] | None = None
    ttl: ThreadTTL | None = None


class ThreadPrune(_Body):
    thread_ids: list[UUID]
    strategy: Literal["delete", "keep_latest"] = "delete"
    #: Not in the official body: custom auth's filter on the threads' metadata.
    metadata: dict[str, Any] | None = None


class ThreadSearch(_Body):
    ids: list[UUID] | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[
        Literal["thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config",
                "status", "values", "interrupts"]
    ] | None = None
    extract: dict[str, str] | None = None


class ThreadCount(_Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class Checkpoint(_Body):
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class ThreadStateUpdate(_Body):
    values: Any = None
    as_node: str | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None


class ThreadStateAtCheckpoint(_Body):
    checkpoint: Checkpoint
    subgraphs: bool = False


class ThreadHistory(_Body):
    limit: int = Field(10, ge=1, le=1000)
    before: Checkpoint | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None


class Send(_Body):
    """A task for `node` with its own `input` (`langgraph.types.Send`)."""

    node: str
    input: Any = None


class Command(_Body):
    """`Command` of the official API; at least one field must be set (the run service checks)."""

    update: dict[str, Any] | list[Any] | None = None
    resume: Any = None
    goto: Send | list[Send | str] | str | None = None


class RunCreate(_Body):
    """`RunCreateStateful` / `RunCreateStateless` of the official API."""

    assistant_id: str = Field(min_length=1)
    input: Any = None
    command: Command | None = None
    config: RunnableConfig | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = Field(None, min_length=1, max_length=65536)
    multitask_strategy: MultitaskStrategy | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    after_seconds: float | None = Field(None, ge=0)
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    feedback_keys: list[str] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None


class CronPatch(_Body):
    """`CronPatch` of the official API: every field optional; `end_time: null` clears it."""

    schedule: str | None = Field(None, min_length=1)
    timezone: str | None = None
    end_time: datetime | None = None
    input: Any = None
    metadata: dict[str, Any] | None = None
    config: RunnableConfig | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = Field(None, min_length=1, max_length=65536)
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: MultitaskStrategy | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    enabled: bool | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None


class CronCreate(CronPatch):
    """`CronCreate` (stateless: `POST /runs/crons`) and `ThreadCronCreate` of the official API."""

    schedule: str = Field(min_length=1)
    assistant_id: str = Field(min_length=1)
    checkpoint_during: bool | None = None


CronField = Literal[
    "cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule", "timezone",
    "created_at", "updated_at", "user_id", "payload", "next_run_date", "metadata", "enabled", "now",
]


class CronCount(_Body):
    assistant_id: str | None = None
    thread_id: UUID | None = None
    metadata: dict[str, Any] | None = None


class CronSearch(CronCount):
    enabled: bool | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at",
                     "updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[CronField] | None = None


class RunBatchCreate(RootModel[list[RunCreate]]):
    """`RunBatchCreate` of the official API: one or more `RunCreateStateless` bodies."""

    root: list[RunCreate] = Field(min_length=1)

    def fields(self) -> list[dict[str, Any]]:
        return [item.fields() for item in self.root]


class RunsCancel(_Body):
    """`RunsCancel` of the official API: `thread_id` with `run_ids`, or `status` (optionally
    on one `thread_id`)."""

    status: Literal["pending", "running", "all"] | None = None
    thread_id: UUID | None = None
    run_ids: list[UUID] | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> RunsCancel:
        if self.status is not None and self.run_ids:
            raise ValueError("give either status or run_ids, not both")
        if self.status is None and not (self.thread_id and self.run_ids):
            raise ValueError("give status ('pending', 'running' or 'all'), or thread_id with run_ids")
        return self


class StorePut(_Body):
    namespace: list[str]
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: Any = None
    ttl: float | None = Field(None, ge=MIN_TTL_MINUTES, le=MAX_TTL_MINUTES)


class StoreDelete(_Body):
    namespace: list[str]
    key: str = Field(min_length=1)


class StoreSearch(_Body):
    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreNamespaces(_Body):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(None, ge=1, le=1000)
    limit: int = Field(100, ge=1, le=1000)
    offset: Offset = 0
