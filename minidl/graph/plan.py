"""The execution plan: a network's layers compiled once into steps.

A step runs one layer, or a chain of layers that fuse (each the only consumer of the one
before): batch normalization + ReLU in training; convolution → batch normalization (→ ReLU)
folded into one convolution at inference. In training, the output layer's loss is a step
of its own, which absorbs the softmax before a classification layer (one stable pass).
Which layers fuse is the layers' own decision (``Layer.fuse``, ``OutputLayer.loss_step``);
the plan only asks.

The plan owns its buffers: each step keeps a ``work`` dict per input size, where built-in
layers keep their outputs and scratch arrays, so a training iteration allocates nothing
large once the first one has run. A step's output is therefore overwritten by the next
call of the same size: the plan copies what it hands out (``Plan.predict``), and the
trainer uses a training forward's results before it runs the next one.

Backward runs the steps in reverse; gradients that reach one output by several paths
(fan-out) are summed. A step none of whose upstream steps has learnables is told so
(``work["need_dx"] = False``) and may skip its input gradient.
"""
import inspect
import time

from ..layers import contract


class LayerStep:
    """A plan step running one layer. Its results are checked against the layer contract
    (minidl.layers.contract) at the first call for each input size; ``size`` is the output
    size the layer declared (MATLAB order), None if unknown."""

    def __init__(self, layer, size=None):
        self.layers = (layer,)
        self.layer = layer
        self.size = size
        self._takes_work = {name: "work" in inspect.signature(getattr(layer, name)).parameters
                            for name in ("predict", "forward", "backward")}

    def _call(self, name, args, work):
        method = getattr(self.layer, name)
        try:
            return method(*args, work=work) if self._takes_work[name] else method(*args)
        except Exception as error:
            names = "+".join(layer.Name for layer in self.layers)
            error.add_note(f"(in the {name} method of layer {names!r}, {type(self.layer).__name__})")
            raise

    def predict(self, inputs, work):
        Z = self._call("predict", inputs, work)
        if "checked predict" not in work:
            contract.check_output(self.layer, "predict", inputs, Z, self.size)
            work["checked predict"] = True
        return Z

    def forward(self, inputs, work):
        result = self._call("forward", inputs, work)
        if "checked forward" not in work:
            contract.check_forward(self.layer, inputs, result, self.size)
            work["checked forward"] = [contract.Like(x.shape, x.dtype) for x in inputs]  # for backward's check
        return result

    def backward(self, dLdZ, memory, work):
        result = self._call("backward", (dLdZ, memory), work)
        if "checked backward" not in work:
            contract.check_backward(self.layer, work["checked forward"], result, work["need_dx"])
            work["checked backward"] = True
        return result[0], (result[1],)

    def fuse(self, consumer, mode):
        return self.layer.fuse(consumer, mode)

    def state_memories(self, memory):
        return [(self.layer, memory)] if self.layer.state_names else []


class FusedStep(LayerStep):
    """A plan step running a :class:`~minidl.layers.base.FusedLayers` chain."""

    def __init__(self, fused):
        self.layers = fused.layers
        self.layer = fused
        self._takes_work = dict.fromkeys(("predict", "forward", "backward"), True)

    def predict(self, inputs, work):   # minidl's own fused layers: no contract check
        return self._call("predict", inputs, work)

    def forward(self, inputs, work):
        return self._call("forward", inputs, work)

    def backward(self, dLdZ, memory, work):
        return self.layer.backward(dLdZ, memory, work=work)

    def state_memories(self, memory):
        return self.layer.state_memories(memory)


class Plan:
    """Steps in topological order for one mode ('train' or 'predict').

    ``layers`` are in topological order, ``sources[i]`` the indices of layer i's inputs,
    ``output_index`` the output (loss) layer, which is not a step.
    """

    MAX_SIZES = 3  # input sizes whose buffers a step keeps (training, validation, last batch)

    def __init__(self, layers, sources, output_index, mode, sizes=None):
        self.mode = mode
        sizes = sizes or [None] * len(layers)
        consumers = [[] for _ in layers]
        for index, inputs in enumerate(sources):
            for source in inputs:
                consumers[source].append(index)
        output = layers[output_index]
        head = sources[output_index][0]
        self.loss, absorbed = output.loss_step(layers[head])
        if absorbed and len(consumers[head]) == 1 and len(sources[head]) == 1:
            self.result = sources[head][0]  # the loss step takes the absorbed layer's input
        else:
            absorbed, self.result = False, head
        skip = {output_index} | ({head} if absorbed and mode == "train" else set())
        self.steps, covered_by = [], {}
        for index in range(len(layers)):
            if index in skip or index in covered_by:
                continue
            step, covered = LayerStep(layers[index], sizes[index]), [index]
            while len(consumers[covered[-1]]) == 1:
                consumer = consumers[covered[-1]][0]
                if consumer in skip or len(sources[consumer]) != 1:
                    break
                fused = step.fuse(layers[consumer], mode)
                if fused is None:
                    break
                step = FusedStep(fused)
                covered.append(consumer)
            for member in covered:
                covered_by[member] = len(self.steps)
            self.steps.append((step, covered, sources[index]))
        if mode == "predict" and absorbed:
            self.result = head
        learnable = set()
        self._need_dx = []
        for step, covered, inputs in self.steps:
            self._need_dx.append(any(s in learnable for s in inputs))
            if any(layer.learnables for layer in step.layers) or self._need_dx[-1]:
                learnable.update(covered)
        self._work = [dict() for _ in self.steps]
        self._last_work = [None] * len(self.steps)  # what each step's last forward used
        self.timer = None  # profileNetwork's (step index, phase, seconds) callback

    def step_of(self, layer_index):
        return next(k for k, (_, covered, _) in enumerate(self.steps) if layer_index in covered)

    def work(self, k, X):
        """The step's buffers for inputs of X's size (a few sizes kept, oldest dropped)."""
        sizes = self._work[k]
        key = (X.shape, X.dtype.str)
        if key not in sizes:
            if len(sizes) >= self.MAX_SIZES:
                del sizes[next(iter(sizes))]
            sizes[key] = {"need_dx": self._need_dx[k]}
        return sizes[key]

    def run(self, X, train, stop=None):
        """Outputs by layer index (the last layer of each step); with ``train`` also the
        memories by step. ``stop``: the step after which to stop."""
        outputs, memories = {}, [None] * len(self.steps)
        for k, (step, covered, inputs) in enumerate(self.steps):
            values = [outputs[s] for s in inputs] or [X]
            work = self._last_work[k] = self.work(k, values[0])
            start = time.perf_counter() if self.timer else 0.0
            if train:
                outputs[covered[-1]], memories[k] = step.forward(values, work)
            else:
                outputs[covered[-1]] = step.predict(values, work)
            if self.timer:
                self.timer(k, "forward", time.perf_counter() - start)
            if k == stop:
                break
        return outputs, memories

    def backward(self, dLdY, memories, layer_count):
        """Gradients of every learnable: one dict per layer (in layer order)."""
        grads = [{} for _ in range(layer_count)]
        upstream = {self.result: dLdY}
        for k in range(len(self.steps) - 1, -1, -1):
            step, covered, inputs = self.steps[k]
            dZ = upstream.pop(covered[-1], None)
            if dZ is None or not inputs:
                continue
            if not self._need_dx[k] and not any(layer.learnables for layer in step.layers):
                continue
            start = time.perf_counter() if self.timer else 0.0
            dX, step_grads = step.backward(dZ, memories[k], self._last_work[k])
            if self.timer:
                self.timer(k, "backward", time.perf_counter() - start)
            for index, layer_grads in zip(covered, step_grads):
                grads[index] = layer_grads
            if not self._need_dx[k]:
                continue
            if len(inputs) == 1:
                dX = (dX,)
            for source, d in zip(inputs, dX):
                upstream[source] = d if source not in upstream else upstream[source] + d
        return grads
