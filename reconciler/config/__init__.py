"""Read config files into a Desired state, pointing every problem at its file, line and column.

YAML lets many mistakes through silently (a repeated key keeps the last value, an unquoted
+14155550100 becomes an integer), so the document is built from parser events rather than with
yaml.safe_load: that keeps a position for every value and refuses what plain data never needs
(tags, anchors, aliases, merge keys).
"""

from reconciler.config.load import DEFAULT_MAX_FILE_BYTES, load_config, load_config_sources
from reconciler.config.phone import check_phone_number, suggest_e164
from reconciler.config.schema import MAX_LABEL, load_schema
from reconciler.config.yaml_reader import MAX_DEPTH, parse_yaml

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "MAX_DEPTH",
    "MAX_LABEL",
    "check_phone_number",
    "load_config",
    "load_config_sources",
    "load_schema",
    "parse_yaml",
    "suggest_e164",
]
