"""`cron_log`: records each execution in the store under ("cron_log", <cron_id>), keyed by
run id, with the tick it ran for (the run's `cron_run_date` metadata), its thread and the
executing process, so a test counts the runs each tick of a cron produced."""

import os
from typing import TypedDict

from langgraph.config import get_config, get_store
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    ticks: int


async def log_tick(state: State):
    config = get_config()
    metadata, configurable = config["metadata"], config["configurable"]
    await get_store().aput(("cron_log", metadata.get("cron_id") or "none"), configurable["run_id"], {
        "run_date": metadata.get("cron_run_date"), "thread_id": configurable["thread_id"], "pid": os.getpid(),
    })
    return {"ticks": state.get("ticks", 0) + 1}


graph = StateGraph(State).add_node("log_tick", log_tick).add_edge(START, "log_tick").add_edge("log_tick", END).compile()
