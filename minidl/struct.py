"""``Struct``: a dict whose keys read as attributes, like a MATLAB struct (``info.TrainingLoss``)."""


class Struct(dict):
    """A dict with attribute access: ``s.net`` is ``s["net"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value
