"""Threadline's common runtime: settings, adapters, the event envelope and plumbing.

Contracts and plumbing only; no service's business rules live here.
"""
