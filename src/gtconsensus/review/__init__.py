"""Seeing a consolidated job: overlays, an HTML job report, a COCO export.

Adapters over the output contract (``docs/output.md``), never imported by the
core: :mod:`~gtconsensus.review.outputs` reads an output manifest back,
:mod:`~gtconsensus.review.render` draws overlays (scikit-image, the ``render``
extra, imported only when drawing), :mod:`~gtconsensus.review.report` writes the
self-contained HTML report with :mod:`~gtconsensus.review.charts`, and
:mod:`~gtconsensus.review.coco` writes COCO instance annotations. The command
line (``render``, ``report``, ``export coco``) is in :mod:`~gtconsensus.review.cli`.
"""
