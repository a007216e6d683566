# This file is generated from the module list of book/chapters by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.
"""vqlit: vector quantizers derived step by step in the vqlit book.

Every module is generated from a chapter of the book; ``import vqlit`` is cheap and each public name
is imported on first use, e.g. ``vqlit.VectorQuantizer`` from ``vqlit.vq``.
"""

from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError as _NotFound, version as _version

try:
    __version__ = _version("vqlit")
except _NotFound:  # running from a source tree
    __version__ = "0+unknown"

# public name -> module that defines it
_WHERE = {
    'AutoEncoder': 'models',
    'AutoEncoderOutput': 'models',
    'Batcher': 'data',
    'DATASETS': 'data',
    'DataError': 'data',
    'DatasetUnavailable': 'data',
    'EMAVectorQuantizer': 'vq',
    'Evaluation': 'train',
    'FASHION_MNIST': 'data',
    'FitResult': 'train',
    'IDX_DATASETS': 'data',
    'IdxDataset': 'data',
    'ImageData': 'data',
    'MLPDecoder': 'models',
    'MLPEncoder': 'models',
    'MNIST': 'data',
    'Quantizer': 'vq',
    'QuantizerOutput': 'vq',
    'ResidualDecoder': 'models',
    'ResidualEncoder': 'models',
    'ResidualStack': 'models',
    'SCALES': 'train',
    'SmallCNNDecoder': 'models',
    'SmallCNNEncoder': 'models',
    'TrainConfig': 'train',
    'VectorQuantizer': 'vq',
    'cache_dir': 'data',
    'check_features': 'vq',
    'code_histogram': 'metrics',
    'codebook_stats': 'metrics',
    'distributed': 'train',
    'download': 'data',
    'evaluate': 'train',
    'fit': 'train',
    'init_distributed': 'train',
    'load_checkpoint': 'train',
    'load_dataset': 'data',
    'load_digits_tensors': 'data',
    'load_result': 'train',
    'locate_idx': 'data',
    'make_optimizer': 'train',
    'make_scheduler': 'train',
    'mlp_autoencoder': 'models',
    'nearest_code': 'vq',
    'perceptual_metrics': 'train',
    'perplexity': 'metrics',
    'provenance': 'train',
    'psnr': 'metrics',
    'read_idx': 'data',
    'record_result': 'train',
    'residual_autoencoder': 'models',
    'resize_images': 'data',
    'resolve_device': 'train',
    'resolve_precision': 'train',
    'resolve_scale': 'train',
    'results_dir': 'train',
    'save_checkpoint': 'train',
    'seed_everything': 'train',
    'sha256sum': 'data',
    'small_cnn_autoencoder': 'models',
    'squared_distances': 'vq',
    'ssim': 'train',
    'straight_through': 'vq',
    'usage': 'metrics',
    'write_idx': 'data',
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
