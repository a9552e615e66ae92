"""User-facing errors: one line that names the bad value and the valid choices."""


class ConfigError(ValueError):
    """Bad user input (config value, data folder, checkpoint). Printed as one line, no traceback."""
