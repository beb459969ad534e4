"""The NLP extractor: a notice or news item in, tags out (:class:`monitor.records.Extraction`).

Pure: no broker and no HTTP. ``Extractor`` builds a spaCy pipeline (blank English plus the
``monitor_*_v1`` components of :mod:`monitor.extract.components`) from the data files in
``monitor/data/extract/``; ``analysed_text`` is the string every span offset refers to.
"""

from monitor.extract.extractor import Extractor, analysed_text

__all__ = ["Extractor", "analysed_text"]
