"""The AMI packet parser: bytes in any chunks to packets; nothing makes it raise or grow."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kolejka.adapters.ami.protocol import Packet, PacketParser, action, ami_version, md5_key
from tests.ami.fake_asterisk import TRANSCRIPTS, captured_packets

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SESSION = BANNER + b"".join(captured_packets("ami_session_sip.txt"))


def parse_all(
    data: bytes, chunk: int | None = None, parser: PacketParser | None = None
) -> list[Packet]:
    parser = parser or PacketParser()
    if chunk is None:
        return parser.feed(data)
    packets = []
    for start in range(0, len(data), chunk):
        packets += parser.feed(data[start : start + chunk])
    return packets


def test_the_banner_is_read_before_the_first_packet() -> None:
    parser = PacketParser()
    packets = parser.feed(BANNER + b"Response: Success\r\nActionID: login1\r\n\r\n")
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert packets == [{"Response": "Success", "ActionID": "login1"}]


def test_a_captured_session_parses_into_every_packet_asterisk_sent() -> None:
    packets = parse_all(SESSION)
    assert len(packets) == len(captured_packets("ami_session_sip.txt"))
    join = next(p for p in packets if p.get("Event") == "QueueCallerJoin")
    assert join["CallerIDNum"] == "4915110000001"
    assert join["Uniqueid"] == "1795705470.0"
    assert join["AccountCode"] == ""  # `AccountCode: ` with nothing after it
    assert join["Channel"] == "PJSIP/sipp-00000000"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1500])
def test_chunks_of_any_size_give_the_same_packets(chunk: int) -> None:
    assert parse_all(SESSION, chunk) == parse_all(SESSION)


def test_a_value_may_hold_colons() -> None:
    packets = parse_all(BANNER + b"Event: X\r\nChannel: Local/2@queue-local-00000000;2\r\n\r\n")
    assert packets[0]["Channel"] == "Local/2@queue-local-00000000;2"


def test_bare_line_feeds_are_accepted_like_crlf() -> None:
    packets = parse_all(b"Asterisk Call Manager/11.0.0\nEvent: A\nX: 1\n\nEvent: B\n\n")
    assert packets == [{"Event": "A", "X": "1"}, {"Event": "B"}]


def test_a_packet_larger_than_the_limit_is_skipped_and_the_next_one_kept() -> None:
    parser = PacketParser(max_packet_bytes=1000)
    huge = b"Event: Big\r\nValue: " + b"x" * 5000 + b"\r\n\r\n"
    packets = parse_all(BANNER + huge + b"Event: Next\r\n\r\n", chunk=100, parser=parser)
    assert packets == [{"Event": "Next"}]
    assert [p.reason for p in parser.take_problems()] == ["packet larger than the limit, skipped"]


@pytest.mark.parametrize("split", range(1, 6))
def test_the_end_of_a_skipped_packet_is_found_across_chunks(split: int) -> None:
    parser = PacketParser(max_packet_bytes=100)
    parser.feed(BANNER)
    tail = b"x" * 200 + b"\r\n\r\nEvent: Next\r\n\r\n"
    cut = 200 + split - 1
    assert parser.feed(tail[:cut]) + parser.feed(tail[cut:]) == [{"Event": "Next"}]


def test_the_buffer_stays_bounded_whatever_arrives() -> None:
    parser = PacketParser(max_packet_bytes=1000)
    parser.feed(BANNER)
    for _ in range(100):
        parser.feed(b"y" * 999)
    assert parser.buffered_bytes <= 1000


def test_bytes_that_are_not_utf8_are_replaced_and_reported() -> None:
    parser = PacketParser()
    packets = parse_all(
        BANNER + b"Event: A\r\nCallerIDName: Za\xbf\xf3\xb3\xe6\r\n\r\n", None, parser
    )
    assert packets[0]["CallerIDName"].startswith("Za\ufffd")
    assert [p.reason for p in parser.take_problems()] == [
        "bytes that are not UTF-8, replaced by U+FFFD"
    ]


def test_lines_without_a_colon_are_dropped_and_reported() -> None:
    parser = PacketParser()
    packets = parse_all(BANNER + b"Event: A\r\nnonsense\r\n\r\nplain text\r\n\r\n", None, parser)
    assert packets == [{"Event": "A"}]
    assert len(parser.take_problems()) == 2


def test_a_stream_without_a_banner_is_reported_and_still_parsed() -> None:
    parser = PacketParser()
    assert parser.feed(b"Event: A\r\n\r\n") == [{"Event": "A"}]
    assert parser.banner is None
    assert parser.take_problems()[0].reason == "no 'Asterisk Call Manager' banner"


def test_problem_samples_are_short_and_printable() -> None:
    parser = PacketParser()
    parse_all(BANNER + b"\x00\x1b[31m" + b"\xff" * 500 + b"\r\n\r\n", None, parser)
    for problem in parser.take_problems():
        assert len(problem.sample) <= 400
        assert problem.sample.isprintable()


def test_an_action_is_written_with_crlf_and_an_action_id() -> None:
    assert action("Ping", "kolejka-3") == b"Action: Ping\r\nActionID: kolejka-3\r\n\r\n"
    assert action("QueueStatus", "q", {"Queue": "support"}).endswith(b"Queue: support\r\n\r\n")


def test_an_action_refuses_a_value_that_would_smuggle_a_header() -> None:
    with pytest.raises(ValueError, match="line break"):
        action("Login", "1", {"Username": "x\r\nAction: Originate"})


@pytest.mark.parametrize(
    ("name", "action_id", "fields", "named"),
    [
        ("Login", "1", {"Username": "x\nSecret: y"}, "Username"),
        ("Login", "1", {"Username": "x\r"}, "Username"),
        ("Login", "1", {"User\nname": "x"}, "User"),
        ("Ping\r\nAction: Originate", "1", None, "Action"),
        ("Ping", "1\n", {}, "ActionID"),
    ],
)
def test_a_lone_cr_or_lf_anywhere_is_refused_and_named(
    name: str, action_id: str, fields: dict[str, str] | None, named: str
) -> None:
    with pytest.raises(ValueError, match=f"line break: {named}"):
        action(name, action_id, fields)


def test_the_md5_key_is_md5_of_challenge_then_secret() -> None:
    expected = hashlib.md5(b"840415273secret").hexdigest()  # noqa: S324
    assert md5_key("840415273", "secret") == expected


@pytest.mark.parametrize(
    ("banner", "version"),
    [
        ("Asterisk Call Manager/11.0.0", (11, 0)),
        ("Asterisk Call Manager/1.3", (1, 3)),
        ("Asterisk Call Manager/2.10.4", (2, 10)),
        ("Asterisk Call Manager/x", (0, 0)),
        (None, (0, 0)),
    ],
)
def test_the_ami_version_is_read_from_the_banner(
    banner: str | None, version: tuple[int, int]
) -> None:
    assert ami_version(banner) == version


def test_every_capture_parses_without_problems() -> None:
    for path in sorted(TRANSCRIPTS.glob("*.txt")):
        parser = PacketParser()
        data = BANNER + b"".join(captured_packets(path.name))
        assert parse_all(data, 512, parser), path.name
        assert parser.take_problems() == [], path.name


# Fuzzing -------------------------------------------------------------------------------------

_pieces = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"\r\n",
            b"\r\n\r\n",
            b"\n",
            b"\r",
            b"\r\r\n",
            b":",
            b": ",
            b"Event: QueueCallerJoin",
            b"\xff",
        ]
    ),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.lists(_pieces, max_size=60).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
    limit=st.integers(min_value=16, max_value=4096),
)
def test_no_input_in_any_chunking_makes_the_parser_raise_or_grow(
    data: bytes, cuts: list[int], limit: int
) -> None:
    parser = PacketParser(max_packet_bytes=limit)
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        for packet in parser.feed(data[start:end]):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in packet.items())
        assert parser.buffered_bytes <= max(limit, 256)
        parser.take_problems()


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SESSION)), max_size=20))
def test_a_real_session_cut_anywhere_parses_the_same(cuts: list[int]) -> None:
    parser = PacketParser()
    points = sorted(set(cuts) | {0, len(SESSION)})
    packets = []
    for start, end in itertools.pairwise(points):
        packets += parser.feed(SESSION[start:end])
    assert packets == parse_all(SESSION)


def test_a_cr_before_a_crlf_parses_the_same_whatever_the_chunking() -> None:
    """`\\r\\r\\n` (a value ending in CR): found by a black-box attack, a join was applied when
    sent in one write and lost when the write was split just after it, because bytes already
    kept were made LF-only a second time."""
    packet = (
        b"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\n\r\r\nChannel: PJSIP/a-1\r\n"
        b"Queue: 2\r\nUniqueid: 1.1\r\n\r\n"
    )
    data = BANNER + packet
    whole = parse_all(data)
    assert whole[0]["Queue"] == "2"
    split = data.index(b"\r\r\n") + 3
    parser = PacketParser()
    assert parser.feed(data[:split]) + parser.feed(data[split:]) == whole


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.lists(_pieces, max_size=60).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
)
def test_any_stream_cut_anywhere_gives_the_packets_it_gives_whole(
    data: bytes, cuts: list[int]
) -> None:
    stream = BANNER + data
    parser = PacketParser()
    points = sorted({c for c in cuts if c < len(stream)} | {0, len(stream)})
    packets = []
    for start, end in itertools.pairwise(points):
        packets += parser.feed(stream[start:end])
    assert packets == parse_all(stream)
