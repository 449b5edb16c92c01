"""Helpers for testing code that uses gtconsensus (needs the ``testing`` extra).

- :mod:`gtconsensus.testing.strategies`: Hypothesis strategies for label images,
  worker panels and Ground Truth answers in every PNG mode the codec reads;
- :mod:`gtconsensus.testing.synthetic`: street-like scenes and noisy workers
  (numpy and Pillow only), manifest lines;
- :mod:`gtconsensus.testing.crowd`: a crowd simulator with known truth
  (scikit-image scenes, workers with every error type, whole jobs in Ground
  Truth's formats);
- :mod:`gtconsensus.testing.stores`: :class:`DictStore`, an S3 in memory
  (``{uri: bytes}``) to run the shipped Lambda
  (:func:`gtconsensus.adapters.aws_lambda.consolidate_event`, ``store=``) on the
  events of ``strategies.lambda_requests()``; it needs no extra, and is here as
  ``gtconsensus.testing.DictStore`` too.

Nothing here is imported by ``import gtconsensus``; import the submodules
explicitly (``pip install "gtconsensus[testing]"`` first).
"""

from gtconsensus.testing.stores import DictStore

__all__ = ["DictStore"]
