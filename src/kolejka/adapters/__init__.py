"""Adapters: the ports' implementations for real storage engines, protocols and servers."""
