"""Guest side of the host bridge: one JSON message per line.

The protocol stream is the process's real stdout (guest -> host) and stdin
(host -> guest). User prints never touch it directly: ``sys.stdout`` is
replaced by a writer that wraps output in ``{"t": "out"}`` frames, so a
``print`` cannot be mistaken for a message. Stderr stays a plain stream.
"""

from __future__ import annotations

import sys

from tenantflow.guest import _wire

# Guest modules never import typing at run time: it costs ~50 ms to import in
# CPython for WASI. Annotations stay strings (``from __future__ import annotations``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_proto_out: Any = None
_proto_in: Any = None
_next_id = 0
# Whether the guest wrote output (stdout or stderr) since its last call or post: the host
# attributes output to steps by the frames around it (see ``Step.do``).
output_since_frame = False


def bind() -> None:
    """Take the process's real stdin/stdout as the protocol stream."""
    global _proto_out, _proto_in
    _proto_out = sys.stdout.buffer
    _proto_in = sys.stdin.buffer
    sys.stdout = stdout
    sys.stderr = _NoticedStream(sys.stderr)


class HostError(Exception):
    """A host handler refused the call or failed; ``type`` names the reason."""

    def __init__(self, message: str, *, type: str = "HostError") -> None:
        super().__init__(message)
        self.type = type


class ChannelClosed(BaseException):
    """The host closed the channel: the run is over, unwind without cleanup."""


def send(message: dict[str, Any]) -> None:
    """Write one protocol message."""
    _proto_out.write(_wire.dumps(message).encode("utf-8", "surrogatepass") + b"\n")
    _proto_out.flush()


def receive() -> dict[str, Any]:
    """Block until the host sends one message."""
    line = _proto_in.readline()
    if not line:
        raise ChannelClosed("host closed the channel")
    message = _wire.loads(line.decode("utf-8", "surrogatepass"))
    if not isinstance(message, dict):
        raise ChannelClosed("host sent a message that is not an object")
    return message


def call(name: str, /, **args: Any) -> Any:
    """Call the host handler ``name`` with JSON arguments and return its result.

    Raises :class:`HostError` if the host has no such handler or the handler
    failed. Only capabilities the host registered for this run exist.
    """
    global _next_id, output_since_frame
    _next_id += 1
    flush_output()
    send({"t": "call", "id": _next_id, "name": name, "args": args})
    output_since_frame = False
    reply = receive()
    if reply.get("t") != "reply" or reply.get("id") != _next_id:
        raise ChannelClosed(f"unexpected message from host: {reply.get('t')!r}")
    if reply.get("ok"):
        return reply.get("value")
    error = reply.get("error") or {}
    raise HostError(str(error.get("message", "host call failed")), type=str(error.get("type")))


def post(name: str, /, **args: Any) -> None:
    """Call the host handler ``name`` one way: no reply, nothing to wait for.

    The host runs the handler while this write is in progress, so its effect
    (arming a step timeout, say) is in place before the guest continues; a
    failure stays on the host.
    """
    global output_since_frame
    flush_output()
    send({"t": "post", "name": name, "args": args})
    output_since_frame = False


class _FrameWriter:
    """A text stream that turns writes into ``out`` frames."""

    encoding = "utf-8"
    errors = "replace"
    _LIMIT = 8192

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self.buffer = _BinaryFrameWriter(self)

    def write(self, text: str) -> int:
        global output_since_frame
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            output_since_frame = True
            self._parts.append(text)
            self._size += len(text)
            if self._size >= self._LIMIT:
                self.flush()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            send({"t": "out", "d": data})

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("stdout is a framed stream in the sandbox")

    def close(self) -> None:
        self.flush()

    @property
    def closed(self) -> bool:
        return False


class _BinaryFrameWriter:
    def __init__(self, text: _FrameWriter) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        self._text.flush()


class _NoticedStream:
    """The real stderr, noting that output happened (it is not framed: it goes straight out)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: Any) -> int:
        global output_since_frame
        output_since_frame = True
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


stdout = _FrameWriter()


def flush_output() -> None:
    """Send buffered prints before a message that must follow them."""
    stdout.flush()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
