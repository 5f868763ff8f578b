"""GET /metrics: Prometheus' text format, for API users allowed `GET metrics`."""

from __future__ import annotations

import re

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.observability.links import LinkState, LinkStatus
from kolejka.observability.metrics import Histogram, Metrics
from tests.support import FrozenClock, call

# A sample line: name, optional {labels}, and a number (Prometheus text format 0.0.4).
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r"(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$"
)


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, _, value = line.rpartition(" ")
        found[name] = float(value)
    return found


async def test_metrics_need_an_api_user_allowed_to_read_them(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    assert (await call(app, "GET", "/metrics")).status == 401
    forbidden = await call(app, "GET", "/metrics", auth=personas["reader"])
    assert forbidden.status == 403
    assert forbidden.json()["errors"][0]["code"] == 403001
    allowed = await call(app, "GET", "/metrics", auth=personas["admin"])
    assert allowed.status == 200
    assert allowed.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


async def test_metrics_count_callers_waiting_and_the_longest_wait_per_queue(
    app: KolejkaApp,
    components: Components,
    personas: dict[str, str],
    queue_2: int,
    clock: FrozenClock,
) -> None:
    await components.lists.join(2, "c1", "746842523")
    clock.advance(30)
    await components.lists.join(2, "c2", "613459851")
    clock.advance(12)
    text = (await call(app, "GET", "/metrics", auth=personas["admin"])).body.decode()
    found = samples(text)
    assert found['kolejka_callers_waiting{queue="2"}'] == 2
    assert found['kolejka_longest_wait_seconds{queue="2"}'] == 42
    assert found['kolejka_waiting_list_events_total{event="join"}'] == 2
    assert "# TYPE kolejka_callers_waiting gauge" in text


async def test_every_request_lands_in_the_latency_histogram_by_route_and_status(
    app: KolejkaApp, personas: dict[str, str], queue_2: int
) -> None:
    for _ in range(3):
        assert (
            await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])
        ).status == 200
    await call(app, "GET", "/api/queues/99/waiting_list", auth=personas["admin"])
    await call(app, "GET", "/nowhere")
    found = samples((await call(app, "GET", "/metrics", auth=personas["admin"])).body.decode())
    name = "kolejka_http_request_duration_seconds"
    ok = 'route="GET queues/:id/waiting_list",status="200"'
    assert found[f"{name}_count{{{ok}}}"] == 3
    assert found[f'{name}_bucket{{{ok},le="+Inf"}}'] == 3
    assert found[f"{name}_sum{{{ok}}}"] > 0
    missing = 'route="GET queues/:id/waiting_list",status="404"'
    assert found[f"{name}_count{{{missing}}}"] == 1
    assert found[f'{name}_count{{route="unmatched",status="404"}}'] == 1


def test_histogram_buckets_are_cumulative_and_end_with_every_observation() -> None:
    histogram = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.005, 0.05, 0.5, 5.0):
        histogram.observe(value)
    buckets = [value for name, _, value in histogram.samples("h", {}) if name == "h_bucket"]
    assert buckets == [2, 3, 4, 6]  # le=0.001 includes 0.001 itself


async def test_the_pbx_link_state_is_one_series_per_state() -> None:
    from kolejka.observability.health import pbx_collector

    link = LinkState("pbx", FrozenClock())
    link.set(LinkStatus.UP)
    metrics = Metrics()
    metrics.collectors.append(pbx_collector(link, None))
    found = samples((await metrics.render()).decode())
    assert found['kolejka_pbx_link_state{state="up"}'] == 1
    assert found['kolejka_pbx_link_state{state="down"}'] == 0
    assert found["kolejka_pbx_link_up"] == 1


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.observe_request('GET "odd"\\path\n', 200, 0.001)
    import asyncio

    text = asyncio.run(metrics.render()).decode()
    assert 'route="GET \\"odd\\"\\\\path\\n"' in text
