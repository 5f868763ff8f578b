"""The HTTP adapter: a thin ASGI application serving Thulium's REST contract."""
