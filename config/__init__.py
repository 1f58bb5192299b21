"""Default configuration shipped with thidua as package data (read with importlib.resources).

`thidua init DIR` writes editable copies of these files; point THIDUA_CONFIG_DIR at DIR to use them.
"""
