"""Data shipped with gtconsensus: ``example.manifest``, the job behind ``gtconsensus demo``."""
