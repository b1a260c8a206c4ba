"""Benchmarks behind ``g2d bench <name>``: one module each, with ``add_arguments(parser)`` (named in
:data:`g2d.commands.bench.BENCHMARKS`, imported only when that benchmark runs)."""
