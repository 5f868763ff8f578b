"""Webhook delivery: sealing subscriptions' secrets, and sending the outbox's events."""
