"""The error type for model files that cannot be read: one ``ValueError`` subclass, so
callers catch a bad file the same way whatever its format (minidl's own or ONNX)."""


class ModelFileError(ValueError):
    """A model file is unreadable, inconsistent, beyond a size limit, or holds something
    minidl cannot represent. The message names the file, the part of it at fault (member,
    layer, node or tensor), what was expected, what was found, and what to do."""
