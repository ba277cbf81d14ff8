"""Read config files into a Desired state, pointing every problem at its file, line and column.

YAML lets many mistakes through silently (a repeated key keeps the last value, an unquoted
+14155550100 becomes an integer), so the document is built from parser events rather than with
yaml.safe_load: that keeps a position for every value and refuses what plain data never needs
(tags, anchors, aliases, merge keys).
"""

from reconciler.config.load import DEFAULT_MAX_FILE_BYTES, load_config, load_config_sources
from reconciler.config.schema import MAX_LABEL, load_schema

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "MAX_LABEL",
    "load_config",
    "load_config_sources",
    "load_schema",
]
