"""Threadline's Apollo Federation v2 gateway: composition, query planning, execution, HTTP."""
