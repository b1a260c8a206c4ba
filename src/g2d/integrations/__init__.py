"""Adapters of g2d's public pieces to training frameworks (each needs its optional extra):
:mod:`g2d.integrations.lightning` (``pip install 'g2d[lightning]'``)."""
