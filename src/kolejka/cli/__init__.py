"""The `kolejka` command: run the service, and administer queues, users, the CRM."""
