"""The embedded store: SQLite for queues, customers, API users and the live waiting lists."""
