"""Every CRM route is in the OpenAPI document with its method, and nothing more is."""

from __future__ import annotations

from kolejka.adapters.http.service import openapi_document
from kolejka.bootstrap import Components, create_app


def test_every_crm_route_is_documented_with_its_method(components: Components) -> None:
    app = create_app(components)
    paths = openapi_document()["paths"]
    crm = {
        (route.method.lower(), route.template)
        for route in app.router.routes
        if route.template.startswith(("/api/customers", "/api/companies", "/api/batch"))
    }
    documented = {
        (method, path)
        for path, operations in paths.items()
        if path.startswith(("/api/customers", "/api/companies", "/api/batch"))
        for method in operations
        if method != "parameters"
    }

    assert len(crm) == 11
    assert crm == documented
