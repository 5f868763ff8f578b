"""PostgreSQL adapters: queues, customers, API users, the CRM and (optionally) the live lists."""
