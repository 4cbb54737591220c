"""Where a training iteration's forward, loss and backward run (the Trainer, training/loop.py,
applies the solver step and the state update itself)."""


class LocalEngine:
    """Where an iteration's forward, loss and backward run: in this process. With
    ExecutionEnvironment 'parallel' minidl.parallel's engine runs them on the workers of a
    parallel pool instead, and the Trainer applies the solver to the summed gradients."""

    message = "Training on single CPU."

    def __init__(self, net):
        self.net = net

    def start(self, X, T):
        pass

    @staticmethod
    def batch(X, T, indices):
        return X[indices], T[indices]

    def forward_loss(self, X, T):
        return self.net.forward_loss(X, T)

    def gradients(self, trace):
        return self.net.backward(trace)

    def commit_state(self, trace):
        self.net.commit_state(trace)

    def commit_population_state(self, X, order, batches):
        self.net.commit_population_state(X[order], batches)


def make_engine(trainer):
    if trainer.options.ExecutionEnvironment == "parallel":
        from ..parallel.engine import ParallelEngine
        return ParallelEngine(trainer)
    return LocalEngine(trainer.net)
