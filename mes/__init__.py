"""Lab MES project package: settings, URLs, task engines and the process supervisor."""

__version__ = "0.1.0"
