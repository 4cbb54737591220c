"""Where a training iteration's forward, loss and backward run (the Trainer, training/loop.py,
applies the solver step and the state update itself)."""
from .data_source import Ordered


class LocalEngine:
    """Where an iteration's forward, loss and backward run: in this process. With
    ExecutionEnvironment 'parallel' minidl.parallel's engine runs them on the workers of a
    parallel pool instead, and the Trainer applies the solver to the summed gradients."""

    message = "Training on single CPU."

    def __init__(self, net):
        self.net = net

    def start(self, source):
        pass

    @staticmethod
    def execution():
        """Where training computes, as checkpoints record it (training/checkpoint.py)."""
        return {"workers": None, "worker_load": None, "synchronized": False}

    @staticmethod
    def batch(reader):
        """The next mini-batch (X, T) of the trainer's reader."""
        return reader.next()

    @staticmethod
    def whole_batch(X):
        """The mini-batch's predictors, for the training probe."""
        return X

    def forward_loss(self, X, T):
        return self.net.forward_loss(X, T)

    def gradients(self, trace):
        return self.net.backward(trace)

    def commit_state(self, trace):
        self.net.commit_state(trace)

    def commit_population_state(self, reader, order, batches):
        """'population': ``reader`` serves the mini-batches of ``batches`` in the shuffled ``order``."""
        self.net.commit_population_state(Ordered(reader), batches)


def make_engine(trainer):
    if trainer.options.ExecutionEnvironment == "parallel":
        from ..parallel.engine import ParallelEngine
        return ParallelEngine(trainer)
    return LocalEngine(trainer.net)
