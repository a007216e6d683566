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
    'BACKENDS': 'optvq',
    'Batcher': 'data',
    'BayesianQuantizer': 'soft',
    'CIFAR10': 'data',
    'CifarDataset': 'data',
    'DATASETS': 'data',
    'DataError': 'data',
    'DatasetUnavailable': 'data',
    'EMAVectorQuantizer': 'vq',
    'EXPERIMENTS': 'experiments',
    'Evaluation': 'train',
    'ExactOT': 'wasserstein',
    'Experiment': 'experiments',
    'FASHION_MNIST': 'data',
    'FitResult': 'train',
    'IDX_DATASETS': 'data',
    'IdxDataset': 'data',
    'ImageData': 'data',
    'LOG_VAR_RANGE': 'soft',
    'MAX_FUSED_CODES': 'sinkhorn_triton',
    'MLPDecoder': 'models',
    'MLPEncoder': 'models',
    'MNIST': 'data',
    'NORMALIZERS': 'soft',
    'OPTVQ_SCALES': 'experiments',
    'QUANTIZERS': 'experiments',
    'Quantizer': 'vq',
    'QuantizerOutput': 'vq',
    'ResidualDecoder': 'models',
    'ResidualEncoder': 'models',
    'ResidualStack': 'models',
    'SCALES': 'train',
    'SOFT_SCALES': 'experiments',
    'SOLVERS': 'optvq',
    'ScaledPlan': 'sinkhorn',
    'SinkhornQuantizer': 'optvq',
    'SinkhornSolver': 'sinkhorn',
    'SmallCNNDecoder': 'models',
    'SmallCNNEncoder': 'models',
    'SoftAutoEncoder': 'soft',
    'Solver': 'wasserstein',
    'TextbookSinkhornQuantizer': 'optvq',
    'TrainConfig': 'train',
    'VQWAE_SCALES': 'experiments',
    'VectorQuantizer': 'vq',
    'WassersteinQuantizer': 'wasserstein',
    'bayes_estimate': 'soft',
    'bench': 'experiments',
    'cache_dir': 'data',
    'center_': 'sinkhorn',
    'check_features': 'vq',
    'cluster_accuracy': 'evaluation',
    'code_histogram': 'metrics',
    'codebook_stats': 'metrics',
    'component_log_likelihood': 'soft',
    'contingency': 'evaluation',
    'distributed': 'train',
    'download': 'data',
    'encode_images': 'evaluation',
    'euclidean_distances': 'optvq',
    'evaluate': 'train',
    'evaluate_run': 'experiments',
    'extract_members': 'data',
    'fit': 'train',
    'format_bench': 'experiments',
    'fused_assign': 'sinkhorn_triton',
    'get_experiment': 'experiments',
    'init_distributed': 'train',
    'kmeans': 'evaluation',
    'latent_evaluation': 'evaluation',
    'linear_probe': 'evaluation',
    'load_checkpoint': 'train',
    'load_dataset': 'data',
    'load_digits_tensors': 'data',
    'load_result': 'train',
    'locate_cifar': 'data',
    'locate_idx': 'data',
    'main': 'cli',
    'make_optimizer': 'train',
    'make_quantizer': 'experiments',
    'make_scheduler': 'train',
    'measure': 'experiments',
    'mlp_autoencoder': 'models',
    'mnist_5k_file': 'data',
    'nearest_code': 'vq',
    'nmi': 'evaluation',
    'normalize_cost': 'sinkhorn',
    'parser': 'cli',
    'perceptual_metrics': 'train',
    'perplexity': 'metrics',
    'posterior_logits': 'soft',
    'posterior_weights': 'soft',
    'prepare_data': 'experiments',
    'provenance': 'train',
    'psnr': 'metrics',
    'read_cifar_binary': 'data',
    'read_idx': 'data',
    'read_mnist_csv': 'data',
    'record_result': 'train',
    'register': 'experiments',
    'reproduce': 'experiments',
    'residual_autoencoder': 'models',
    'resize_images': 'data',
    'resolve_device': 'train',
    'resolve_precision': 'train',
    'resolve_scale': 'train',
    'results_dir': 'train',
    'save_checkpoint': 'train',
    'seed_everything': 'train',
    'sha256sum': 'data',
    'sinkhorn': 'sinkhorn',
    'sinkhorn_assign': 'optvq',
    'sinkhorn_log': 'sinkhorn',
    'sinkhorn_textbook': 'sinkhorn',
    'small_cnn_autoencoder': 'models',
    'soft_mlp_autoencoder': 'soft',
    'split_train_test': 'data',
    'squared_distances': 'vq',
    'ssim': 'train',
    'straight_through': 'vq',
    'time_step': 'experiments',
    'train_experiment': 'experiments',
    'transport_cost': 'wasserstein',
    'triton_available': 'sinkhorn_triton',
    'uniform_marginals': 'sinkhorn',
    'unit_scaling': 'soft',
    'usage': 'metrics',
    'write_cifar_binary': 'data',
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
