"""The use cases, and the ports (ports.py) they need from outside."""
