"""Run stream fan-out and signals behind one interface (`Broker`)."""

from waypoint.streams.base import Broker, CancelAction, StreamEvent, ThreadEvent
from waypoint.streams.memory import InProcessBroker

__all__ = ["Broker", "CancelAction", "InProcessBroker", "StreamEvent", "ThreadEvent"]
