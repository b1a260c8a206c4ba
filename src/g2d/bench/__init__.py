"""Benchmarks behind ``g2d bench <name>``: one module each, with ``register(subparsers)``."""
