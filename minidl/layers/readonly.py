"""Read-only layers: the layers of a trained network refuse property assignments, as
MATLAB refuses ``net.Layers(2).WeightLearnRateFactor = 0``."""
import copy
import weakref


class ReadOnlyLayerError(AttributeError):
    """A property of a trained network's layer was assigned (MATLAB refuses it too)."""


_READ_ONLY = weakref.WeakValueDictionary()     # id -> layer: the read-only copies handed out


def read_only_copies(layers):
    """Deep copies of ``layers`` that refuse property assignments (a trained network's
    ``Layers``). ``copy.deepcopy`` of one of them is an ordinary, editable layer."""
    from .display import LayerArray
    copies = LayerArray(copy.deepcopy(list(layers)))
    for layer in copies:
        _READ_ONLY[id(layer)] = layer
    return copies


def _read_only_message(layer, name):
    return (f"{layer.Name or type(layer).__name__}: the layers of a trained network are read-only (as in "
            f"MATLAB), so setting {name} would change nothing. To change the network, build a new one: "
            f"lgraph = layerGraph(net); lgraph = replaceLayer(lgraph, '{layer.Name}', newLayer), then "
            f"assembleNetwork(lgraph) or trainNetwork(..., lgraph, ...); set learn-rate factors on the layers "
            f"before training (setLearnRateFactor, freezeWeights); or edit a copy: "
            f"layer = copy.deepcopy(net.Layers[i]).")


def is_read_only(layer):
    return _READ_ONLY.get(id(layer)) is layer
