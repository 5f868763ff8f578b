"""The AMI wire format as pure functions of bytes: no sockets, no clocks, no logging.

An AMI stream opens with a banner line (`Asterisk Call Manager/11.0.0`); then come packets, each a
run of `Key: Value` lines ended by CRLF and closed by an empty line. `PacketParser` turns bytes,
in chunks of any size, into packets (dicts). Whatever it cannot use (an oversized packet, a line
without a colon, bytes that are not UTF-8) it notes in `problems` for the caller to log, and it
carries on with the next packet: no input makes it raise or grow without bound.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

Packet = dict[str, str]

BANNER_PREFIX = b"Asterisk Call Manager/"
# A queue event is about 500 bytes; a packet a hundred times larger is not one we want.
MAX_PACKET_BYTES = 65_536
_MAX_BANNER_BYTES = 256
_SAMPLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the stream that was skipped; `sample` is a short, printable prefix of it."""

    reason: str
    sample: str


class PacketParser:
    """Turns an AMI byte stream, fed in chunks, into packets."""

    def __init__(self, max_packet_bytes: int = MAX_PACKET_BYTES) -> None:
        self.max_packet_bytes = max_packet_bytes
        self.banner: str | None = None
        self.problems: list[Problem] = []
        self._buffer = b""
        self._before_banner = True
        self._skipping = False  # inside an oversized packet: drop bytes up to its end

    def feed(self, data: bytes) -> list[Packet]:
        """The packets completed by `data`, in order."""
        # On the wire every line ends in CRLF; accepting bare LF as well costs one replace, of
        # the new bytes only: the kept ones are LF-only already, and making them so again would
        # turn a `\r\r\n` (kept as `\r\n`) into a line end that the same bytes in one chunk
        # never had. A kept CR at the end may be the first half of a CRLF split across chunks.
        kept = self._buffer
        if kept.endswith(b"\r"):
            buffer = kept[:-1] + (b"\r" + data).replace(b"\r\n", b"\n")
        else:
            buffer = kept + data.replace(b"\r\n", b"\n")
        if self._before_banner:
            buffer = self._take_banner(buffer)
            if self._before_banner:
                self._buffer = buffer
                return []
        if self._skipping:
            end = buffer.find(b"\n\n")
            if end < 0:
                # Its end may be split across chunks: keep what could be the start of it.
                self._buffer = buffer[-2:]
                return []
            buffer = buffer[end + 2 :]
            self._skipping = False
        pieces = buffer.split(b"\n\n")
        rest = pieces.pop()
        packets = []
        for raw in pieces:
            if len(raw) > self.max_packet_bytes:
                self._problem("packet larger than the limit, skipped", raw)
            elif raw.strip():
                packet = self._packet(raw)
                if packet:
                    packets.append(packet)
        if len(rest) > self.max_packet_bytes:
            self._problem("packet larger than the limit, skipped", rest)
            self._skipping = True
            rest = rest[-2:]
        # A lone CR at the end may be the first half of a CRLF split across chunks.
        self._buffer = rest
        return packets

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for a packet not yet complete: never more than the packet limit."""
        return len(self._buffer)

    def take_problems(self) -> list[Problem]:
        problems, self.problems = self.problems, []
        return problems

    def _take_banner(self, buffer: bytes) -> bytes:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) <= _MAX_BANNER_BYTES:
                return buffer
            end = len(buffer)
        line = buffer[:end].rstrip(b"\r")
        self._before_banner = False
        if line.startswith(BANNER_PREFIX):
            self.banner = line.decode("utf-8", "replace")
            return buffer[end + 1 :]
        self._problem("no 'Asterisk Call Manager' banner", line)
        # Without a banner the line may already be part of a packet: keep it if it looks so.
        return buffer if b":" in line else buffer[end + 1 :]

    def _packet(self, raw: bytes) -> Packet:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self._problem("bytes that are not UTF-8, replaced by U+FFFD", raw)
        packet: Packet = {}
        stray = False
        for line in text.split("\n"):
            key, colon, value = line.partition(":")
            if colon and key:
                packet[key.strip()] = value.strip()
            elif line.strip():
                stray = True
        if stray:
            self._problem("lines without 'Key: Value' ignored", raw)
        return packet

    def _problem(self, reason: str, raw: bytes) -> None:
        sample = raw[: _SAMPLE_CHARS * 4].decode("utf-8", "replace")[:_SAMPLE_CHARS]
        self.problems.append(Problem(reason, sample.encode("unicode_escape").decode("ascii")))


def action(name: str, action_id: str, fields: dict[str, str] | None = None) -> bytes:
    """An action packet. A value with a line break would smuggle in another header: refused."""
    text = f"Action: {name}\r\nActionID: {action_id}\r\n"
    if fields:
        text += "".join([f"{key}: {value}\r\n" for key, value in fields.items()])
    # Each line ends in the one CRLF put there: counting is one pass in C, where looking at
    # each line was a twentieth of an Originate's CPU.
    lines = 2 + len(fields or ())
    if text.count("\n") != lines or text.count("\r") != lines:
        bad = next(
            line
            for line in (f"Action: {name}", f"ActionID: {action_id}", *_lines(fields or {}))
            if "\r" in line or "\n" in line
        )
        raise ValueError(f"an AMI header cannot hold a line break: {bad.split(':')[0]}")
    return (text + "\r\n").encode()


def _lines(fields: dict[str, str]) -> list[str]:
    return [f"{key}: {value}" for key, value in fields.items()]


def md5_key(challenge: str, secret: str) -> str:
    """The `Key` of an MD5 login: md5 of the challenge followed by the secret, in hex."""
    return hashlib.md5((challenge + secret).encode(), usedforsecurity=False).hexdigest()


def ami_version(banner: str | None) -> tuple[int, int]:
    """(major, minor) of the AMI protocol from the banner; (0, 0) when it cannot be read.

    AMI 2.x arrived with Asterisk 12, which renamed `Join`/`Leave` to `QueueCallerJoin`/
    `QueueCallerLeave` and moved them from class `call` to class `agent`.
    """
    if not banner or "/" not in banner:
        return (0, 0)
    parts = banner.rsplit("/", 1)[1].split(".")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        return (0, 0)
