"""Pure rules that two or more components need (no I/O)."""
