"""The run service: assistants, threads and runs above storage, streams and graphs.

`Services` wires the pieces one deployment needs; the API holds one instance.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from waypoint.graphs import GraphRegistry
from waypoint.persistence import StoreConfig, ThreadTTLConfig
from waypoint.service.assistants import AssistantService
from waypoint.service.crons import CronService
from waypoint.service.deadlines import DeadlineSweeper
from waypoint.service.executor import RunExecutor
from waypoint.service.notification_targets import NotificationTargets
from waypoint.service.notifications import Notifier
from waypoint.service.protocol import ThreadProtocol
from waypoint.service.retention import RetentionSweeper
from waypoint.service.runs import RunService
from waypoint.service.store import StoreService
from waypoint.service.thread_stream import ThreadStreamer
from waypoint.service.threads import ThreadService
from waypoint.service.webhook_policy import WebhookPolicy
from waypoint.service.webhooks import WebhookSender
from waypoint.service.worker import WorkerPool
from waypoint.storage import Storage
from waypoint.streams import Broker


@dataclass
class Services:
    """Everything the API calls into, built over one storage, broker and graph registry."""

    storage: Storage
    broker: Broker
    registry: GraphRegistry
    assistants: AssistantService
    threads: ThreadService
    runs: RunService
    store: StoreService
    workers: WorkerPool
    deadlines: DeadlineSweeper
    thread_streams: ThreadStreamer
    protocol: ThreadProtocol
    notifier: Notifier
    crons: CronService
    retention: RetentionSweeper

    @classmethod
    def build(
        cls,
        storage: Storage,
        broker: Broker,
        registry: GraphRegistry,
        *,
        workers: int = 10,
        run_timeout: float | None = None,
        lease_seconds: float = 30.0,
        webhook_policy: WebhookPolicy | None = None,
        max_run_attempts: int = 3,
        shutdown_grace_seconds: float = 10.0,
        notification_targets: NotificationTargets | None = None,
        public_url: str = "http://127.0.0.1:8123",
        thread_ttl: ThreadTTLConfig | None = None,
        store_config: StoreConfig | None = None,
    ) -> Services:
        assistants = AssistantService(storage, registry)
        threads = ThreadService(storage, registry, broker)
        runs = RunService(storage, broker, registry, assistants, threads)
        webhooks = WebhookSender(storage, policy=webhook_policy)
        runs.webhook_policy = webhooks.policy
        notifier = Notifier(storage, notification_targets or NotificationTargets(), public_url=public_url)
        deadlines = DeadlineSweeper(storage, runs, threads, webhooks, notifier=notifier)
        executor = RunExecutor(storage, broker, registry, threads, webhooks, run_timeout=run_timeout, notifier=notifier,
                               assistants=assistants, deadlines=deadlines)
        pool = WorkerPool(storage, broker, executor, threads, size=workers, lease_seconds=lease_seconds,
                          max_attempts=max_run_attempts, shutdown_grace_seconds=shutdown_grace_seconds)
        runs.pool = pool
        return cls(
            storage, broker, registry, assistants, threads, runs, StoreService(storage, store_config), pool,
            deadlines, ThreadStreamer(storage, broker, threads), ThreadProtocol(storage, broker, runs, threads),
            notifier, CronService(storage, runs, assistants), RetentionSweeper(storage, thread_ttl, store_config),
        )

    async def start(self) -> None:
        """Open storage and broker, create system assistants, start the workers. On failure,
        whatever was opened is closed again (so the process can exit)."""
        try:
            await self.storage.open()
            await self.broker.open()
            await self.assistants.ensure_system_assistants()
            await self.workers.start()
            await self.deadlines.start()
            await self.crons.scheduler.start()
            await self.retention.start()
            self.workers.executor.webhooks.start()
            self.notifier.start()
        except BaseException:
            await self.broker.close()
            await self.storage.close()
            raise

    async def check_health(self, timeout: float = 2.0) -> None:
        """Raise unless storage and the broker each answer a round trip within `timeout`
        seconds (the `/ok` check): the driver's error, or `TimeoutError` naming the dependency."""
        for name, probe in (("database", self.storage.ping), ("broker (Redis)", self.broker.ping)):
            try:
                await asyncio.wait_for(probe(), timeout)
            except TimeoutError:
                raise TimeoutError(f"The {name} did not answer within {timeout} s") from None

    async def stop(self) -> None:
        await self.crons.scheduler.stop()
        await self.retention.stop()
        await self.deadlines.stop()
        await self.workers.stop()
        await self.workers.executor.webhooks.close()
        await self.notifier.close()
        await self.broker.close()
        await self.storage.close()
