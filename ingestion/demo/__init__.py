"""Deterministic demo CRM and ERP extracts (see ``generator.generate``)."""

from ingestion.demo.generator import generate

__all__ = ["generate"]
