"""Supply-disruption monitoring for critical minerals.

The package reads like the pipeline: ``ingest`` -> ``extract`` -> ``rules`` -> ``delivery``,
joined by the records in ``records`` and wired together by ``streaming`` (Faust on Kafka).
"""

__version__ = "0.1.0"
