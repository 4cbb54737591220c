"""``plot(lgraph)``: draw a layer graph with matplotlib (the ``plot`` extra)."""
import networkx as nx


def plot(lgraph, filename=None, ax=None):
    """Draw a LayerGraph (or a network) top to bottom in topological layers; optionally save it.

    Returns the matplotlib Figure.

    Example::

        >>> import os, tempfile, minidl
        >>> lgraph = minidl.layerGraph([minidl.imageInputLayer([8, 8, 1]), minidl.reluLayer()])
        >>> figure = minidl.plot(lgraph, os.path.join(tempfile.mkdtemp(), "graph.png"))
    """
    try:
        import matplotlib
        if filename is not None and not matplotlib.is_interactive():
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot needs matplotlib; install it with pip install 'minidl[plot]'.") from None
    if hasattr(lgraph, "to_layer_graph"):
        lgraph = lgraph.to_layer_graph()
    graph = lgraph._graph
    names = lgraph._ordered_names()
    positions = {}
    try:
        generations = list(nx.topological_generations(graph))
    except nx.NetworkXUnfeasible:  # a cycle: fall back to the order the layers were added
        generations = [[name] for name in names]
    for depth, generation in enumerate(generations):
        generation = sorted(generation, key=names.index)
        for k, name in enumerate(generation):
            positions[name] = (k - (len(generation) - 1) / 2, -depth)
    if ax is None:
        figure, ax = plt.subplots(figsize=(max(4, 2.2 * max(len(g) for g in generations) + 1),
                                           max(3, 0.55 * len(generations) + 1)))
    else:
        figure = ax.figure
    for u, v in graph.edges:
        (x0, y0), (x1, y1) = positions[u], positions[v]
        ax.annotate("", xy=(x1, y1 + 0.18), xytext=(x0, y0 - 0.18),
                    arrowprops=dict(arrowstyle="->", color="0.4", connectionstyle="arc3,rad=0.15"))
    for name, (x, y) in positions.items():
        ax.text(x, y, name, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", facecolor="#dbe9f6", edgecolor="#4a7ab0"))
    ax.set_xlim(min(x for x, _ in positions.values()) - 1, max(x for x, _ in positions.values()) + 1)
    ax.set_ylim(-len(generations), 0.8)
    ax.axis("off")
    if filename is not None:
        figure.savefig(filename, dpi=100, bbox_inches="tight")
    return figure
