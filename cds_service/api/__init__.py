"""Thin HTTP routers: each reads the request, calls the core, and renders the answer."""
