"""The composition root's storage half: the adapters for each engine, built only for the engine
`KOLEJKA_DATABASE_URL` and `KOLEJKA_LIVE_URL` name.

`kolejka.bootstrap` picks one of these; PostgreSQL's and Redis's modules are imported only
when named, so the commands and the server on SQLite never load asyncpg or redis-py.
"""
