"""Errors and warnings raised by shopseg.

Every error a user can cause is a :class:`ShopsegError`; the command line
prints its message as one paragraph, without a traceback, and exits non-zero.
"""


class ShopsegError(Exception):
    """An error caused by the input or the options, with a message saying the fix."""


class InputFileError(ShopsegError):
    """A file cannot be found, opened, or read as transaction lines."""


class SchemaError(ShopsegError):
    """The columns of a file do not match the transaction schema."""


class ParseError(ShopsegError):
    """A value in a column cannot be read as the type the column holds."""


class EmptyResultError(ShopsegError):
    """Nothing is left to work on, for example after cleaning."""


class DataDownloadError(ShopsegError):
    """The default data set is not on disk and cannot be downloaded."""


class EngineError(ShopsegError):
    """The compute engine (Apache Spark) cannot be started, reached or used."""


class ModelInputError(ShopsegError):
    """Data given to a model break an invariant the model relies on."""


class ShopsegWarning(UserWarning):
    """Base class of the warnings shopseg emits."""


class AmbiguousDateWarning(ShopsegWarning):
    """Every date in a column could be read day-first or month-first."""


class MissingColumnWarning(ShopsegWarning):
    """An optional column (description, country) was not found in a file;
    it is read as blank."""


class DateRangeWarning(ShopsegWarning):
    """A file's dates lie where no shop's sales do: before online shops, or
    in the future; often the sign of a wrong date column."""


class ObservationEndWarning(ShopsegWarning):
    """The observation end leaves some purchases after it."""


class ConvergenceWarning(ShopsegWarning):
    """A model fit stopped before the optimiser reported convergence."""


class DegenerateDataWarning(ShopsegWarning):
    """The data are too small or too uniform for the requested model; a
    smaller one was used."""
