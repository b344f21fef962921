"""Payer-side CDS Hooks 2.0 service applying medical policies to draft orders (Da Vinci CRD)."""

__version__ = "0.1.0"
