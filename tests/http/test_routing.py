"""The router: templates to routes, and its bounded memory of paths it has matched."""

from __future__ import annotations

from kolejka.adapters.http.request import Reply, Request
from kolejka.adapters.http.routing import Route, Router


async def waiting_list(request: Request) -> Reply:
    return Reply(b"[]")


async def leave(request: Request) -> Reply:
    return Reply(b"{}")


def router() -> Router:
    return Router(
        [
            Route("GET", "/api/queues/{id}/waiting_list", waiting_list),
            Route("POST", "/api/queues/{id}/callers/{call_id}/leave", leave),
        ]
    )


def test_a_path_matched_again_gives_the_same_route_and_params() -> None:
    routes = router()
    first = routes.match("GET", b"/api/queues/2/waiting_list")
    again = routes.match("GET", b"/api/queues/2/waiting_list")
    assert first[0] is not None
    assert first[0].permission == "GET queues/:id/waiting_list"
    assert again == first == (first[0], {"id": "2"}, [])
    assert routes.match("GET", b"/api/queues/7/waiting_list")[1] == {"id": "7"}


def test_a_wrong_method_still_gets_the_allowed_ones_after_the_path_was_matched() -> None:
    routes = router()
    routes.match("GET", b"/api/queues/2/waiting_list")
    assert routes.match("POST", b"/api/queues/2/waiting_list") == (None, {}, ["GET", "HEAD"])
    assert routes.match("GET", b"/api/nowhere") == (None, {}, [])


def test_the_memory_of_paths_stays_bounded_whatever_clients_ask() -> None:
    routes = router()
    for queue_id in range(1, 5 * Router.remembered_paths):
        assert routes.match("GET", f"/api/queues/{queue_id}/waiting_list".encode())[1] == {
            "id": str(queue_id)
        }
        routes.match("GET", f"/api/nowhere/{queue_id}".encode())
        assert routes.remembered <= Router.remembered_paths
