# This file is generated from the module list of book/chapters by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.
"""vqlit: vector quantizers derived step by step in the vqlit book.

Every module is generated from a chapter of the book. The top level holds the quantizers, their
output type, and the entry points for data, models, training and the named experiments; each is
imported on first use (``vqlit.VectorQuantizer`` from ``vqlit.vq``), so ``import vqlit`` is cheap.
Everything else is imported from its module, e.g. ``from vqlit.sinkhorn import sinkhorn``.
"""

from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError as _NotFound, version as _version

try:
    __version__ = _version("vqlit")
except _NotFound:  # running from a source tree
    __version__ = "0+unknown"

# the curated top level (the chapters' `#| top` directives): name -> module
_WHERE = {
    'AutoEncoder': 'models',
    'BalancedSoftQuantizer': 'family',
    'BayesianQuantizer': 'soft',
    'DATASETS': 'data',
    'EMAVectorQuantizer': 'ema',
    'EXPERIMENTS': 'registry',
    'ImageData': 'data_batching',
    'Quantizer': 'vq',
    'QuantizerOutput': 'vq',
    'SinkhornQuantizer': 'optvq',
    'TrainConfig': 'train_config',
    'VectorQuantizer': 'vq',
    'WassersteinQuantizer': 'wasserstein',
    'evaluate': 'evaluation',
    'expected_cost': 'runs',
    'fit': 'train',
    'load_dataset': 'data',
    'mlp_autoencoder': 'models',
    'reproduce': 'runs',
    'residual_autoencoder': 'models',
    'small_cnn_autoencoder': 'models',
    'train_experiment': 'runs',
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(_import_module(f"vqlit.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vqlit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
