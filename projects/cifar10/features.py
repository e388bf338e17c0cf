"""cifar-10: this project's own code (none is needed to start).

The package reads the images (``[data] loader`` in config.toml), assigns folds, trains
the nets and writes submissions. This file is where a layout the built-in loaders do not
read gets a loader of its own, or a net a backend of its own, registered on import::

    from kagglekit.loaders import Dataset, Loader, register_loader

    def load_my_layout(project, cfg) -> Dataset: ...

    register_loader(Loader("my_layout", load_my_layout, lambda cfg: ["train.csv"]))

and ``loader = "my_layout"`` under ``[data]`` in config.toml.
"""

from __future__ import annotations
