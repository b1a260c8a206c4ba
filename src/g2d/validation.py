"""The errors g2d raises for bad user input (data, config, files): the CLI prints them as one message."""
from __future__ import annotations


class G2DError(Exception):
    """An error caused by the user's input (data, config, files); shown without a traceback."""


class DataError(G2DError, ValueError):
    """A data file, sample or field does not match what the loader expects."""


class ConfigError(G2DError, ValueError):
    """A configuration value is missing, unknown or inconsistent."""


class CacheMismatchError(G2DError, RuntimeError):
    """A teacher-output cache was built from other teachers, data or transforms."""


#: Appended to "does not exist" errors about a data set's path options, which the config made absolute.
RELATIVE_PATHS = ("relative paths in a config file start at that file's folder; in --set options and "
                  "the Python API at the working folder")
