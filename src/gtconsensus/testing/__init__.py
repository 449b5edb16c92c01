"""Helpers for testing code that uses gtconsensus (needs the ``testing`` extra).

- :mod:`gtconsensus.testing.strategies`: Hypothesis strategies for label images,
  worker panels and Ground Truth answers in every PNG mode the codec reads;
- :mod:`gtconsensus.testing.synthetic`: a crowd simulator.

Nothing here is imported by ``import gtconsensus``; import the submodules
explicitly (``pip install "gtconsensus[testing]"`` first).
"""
