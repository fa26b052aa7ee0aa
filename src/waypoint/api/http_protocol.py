"""uvicorn's HTTP protocol with one socket write per response where uvicorn makes two.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, and the body at `http.response.body`: two `send()` system calls
(each also waking the client) for a JSON answer sent at once. `CoalescingTransport`
gathers what is written during one turn of the event loop and writes it at the end of
that turn (`loop.call_soon`): a response whose body follows its start in the same turn
(every JSON response) goes out in one write; one whose body comes later (an SSE stream,
a `wait` heartbeat) gets its headers at the end of the turn, as before to the client.
Bytes are never reordered or dropped: `close()` writes what is held first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """An `asyncio.Transport` proxy whose `write` is held until the end of the loop turn
    (see the module doc); everything else is the wrapped transport's."""

    __slots__ = ("_transport", "_held", "_loop")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._held: list[bytes] = []
        self._loop = loop

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
