"""User-facing errors. Each one says what was wrong, where, and how to fix it."""


class TenureError(Exception):
    """Base class for errors that are shown to the user as one line, never as a traceback."""


class ContractError(TenureError):
    """A file or frame does not fit the table contract as a whole (e.g. a required column is missing)."""


class SourceError(TenureError):
    """A file cannot be read at all (missing, unreadable, not the format it claims)."""


class MappingError(TenureError):
    """A column-mapping file is malformed or maps to columns the contract does not have."""


class QueryError(TenureError):
    """A filter, grain, segment or period that the engine cannot use."""


class ModelError(TenureError):
    """A model cannot be fitted to the data given (too little data, or no convergence)."""
