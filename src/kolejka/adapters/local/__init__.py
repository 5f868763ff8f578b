"""In-process adapters: the system clock and the change feed of a single instance."""
