"""A layer's public configuration: the one source of its file format, defaults and display.

The configuration of a layer is its constructor's keyword arguments (``__init__``, following
``**options`` up to the parent class that takes them), read back as the public properties of
the same name. The MATLAB constructor functions (``batchNormalizationLayer`` ...) take their
defaults from the same signature, and ``load`` rebuilds a layer by calling its constructor
with the saved configuration, so every constructor check runs on every file.

Learnable and state arrays a constructor does not take (custom layers usually set them in
``initialize``) are saved beside the configuration and set as public properties after the
constructor has run. Private attributes (``_image``) and derived ones (``PaddingSize``) are
never saved: ``initialize`` recomputes them.
"""
import inspect

REQUIRED = inspect.Parameter.empty


def constructor_parameters(cls):
    """``{name: default}`` of the constructor's keyword arguments, in order (REQUIRED for
    arguments without a default)."""
    parameters, follow = {}, True
    for klass in cls.__mro__:
        if not follow or "__init__" not in vars(klass) or klass is object:
            continue
        follow = False
        for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                if parameter.name != "self":
                    parameters.setdefault(parameter.name, parameter.default)
            elif parameter.kind == parameter.VAR_KEYWORD:
                follow = True
    return parameters


def array_names(cls):
    """Learnable and state properties (arrays)."""
    return (*cls.learnables, *cls.state_names)


def config_names(cls):
    """Constructor arguments saved as configuration; a learnable or state array is saved as
    configuration only when the constructor takes it (``arrays_in_constructor``)."""
    arrays = () if cls.arrays_in_constructor else array_names(cls)
    return tuple(name for name in constructor_parameters(cls) if name not in arrays)


def constructor_defaults(cls, exclude=("Name",)):
    """Defaults of the optional constructor arguments: the Name=Value options of the MATLAB
    constructor function."""
    return {name: default for name, default in constructor_parameters(cls).items()
            if default is not REQUIRED and name not in exclude}


def get_config(layer):
    """``{name: value}`` of the layer's configuration (see :func:`config_names`)."""
    config = {}
    for name in config_names(type(layer)):
        if not hasattr(layer, name):
            raise ValueError(f"save: layer {layer.Name!r} ({type(layer).__name__}) takes the constructor argument "
                             f"{name!r} but has no property of that name, so it cannot be saved and rebuilt. "
                             f"Store the argument as self.{name} in __init__.")
        config[name] = getattr(layer, name)
    return config


def extra_arrays(layer):
    """Learnable and state arrays the constructor does not take: ``{name: array or None}``."""
    config = set(config_names(type(layer)))
    return {name: getattr(layer, name, None) for name in array_names(type(layer)) if name not in config}
