"""The Asterisk Manager Interface adapter: Asterisk's call queues, followed live."""
