"""Screening: instruments, sittings and results (R1, R2)."""
