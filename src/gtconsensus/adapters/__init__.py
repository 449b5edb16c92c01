"""Adapters around the pure core (Lambda, manifests on S3, Dask): each imports its SDK lazily."""
