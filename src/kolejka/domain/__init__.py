"""The trade's rules in plain Python: no framework, no driver, no I/O."""
