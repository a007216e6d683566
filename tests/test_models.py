"""Backbones and the autoencoder (vqlit.models, from Appendix B)."""
import pytest
import torch
from torch import nn

from vqlit.models import (AutoEncoder, MLPDecoder, MLPEncoder, SmallCNNDecoder, SmallCNNEncoder,
                          residual_autoencoder,
                          mlp_autoencoder, small_cnn_autoencoder)
from vqlit.ema import EMAVectorQuantizer
from vqlit.vq import VectorQuantizer


@pytest.mark.parametrize("channels, code_dim", [(1, 8), (3, 8), (3, 64)])
def test_small_cnn_shapes(channels, code_dim):
    x = torch.rand(2, channels, 32, 32)
    z = SmallCNNEncoder(in_channels=channels, code_dim=code_dim)(x)
    assert z.shape == (2, code_dim, 8, 8)
    assert SmallCNNDecoder(out_channels=channels, code_dim=code_dim)(z).shape == x.shape


def test_small_cnn_layer_list_matches_optvq_appendix_b():
    convs = [m for m in SmallCNNEncoder() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in convs] == [
        (3, 1, 16), (2, 2, 16), (3, 1, 16), (2, 2, 16), (3, 1, 32), (3, 1, 32), (1, 1, 8)]
    decoder = list(SmallCNNDecoder())
    assert isinstance(decoder[-1], nn.Conv2d)                   # ends on a conv: no output activation


def test_mlp_shapes_and_sizes():
    enc, dec = MLPEncoder(latent_dim=64), MLPDecoder(latent_dim=64)
    assert [m.out_features for m in enc.net if isinstance(m, nn.Linear)] == [500, 500, 2000, 64]
    z = enc(torch.rand(3, 1, 28, 28))
    out = dec(z)
    assert z.shape == (3, 64) and out.shape == (3, 1, 28, 28) and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("quantizer", [None, VectorQuantizer(num_codes=32, dim=8),
                                       EMAVectorQuantizer(num_codes=32, dim=8)])
def test_autoencoder_contract(quantizer):
    model = small_cnn_autoencoder(quantizer)
    x = torch.rand(2, 1, 32, 32)
    out = model(x)
    assert out.reconstruction.shape == x.shape and out.latents.shape == (2, 8, 8, 8)
    loss, logs = model.loss(x)
    assert loss.ndim == 0 and "recon" in logs and "loss" in logs
    if quantizer is None:
        assert out.quantizer is None and torch.isclose(loss, logs["recon"])
    else:
        assert out.quantizer.indices.shape == (2, 8, 8)
        assert torch.isclose(loss, logs["recon"] + logs["quantizer_loss"])


def test_signed_inputs_round_trip_and_loss_scale():
    ident = AutoEncoder(encoder=nn.Identity(), decoder=nn.Identity(), signed_inputs=True)
    x = torch.rand(3, 1, 4, 4)
    assert torch.allclose(ident(x).reconstruction, x, atol=1e-6)

    class Shift(nn.Module):             # decoder output off by 0.2 in the network's [-1, 1] range
        def forward(self, z):
            return z + 0.2
    for loss_name, expected in [("mse", 0.04), ("l1+mse", 0.24)]:
        model = AutoEncoder(encoder=nn.Identity(), decoder=Shift(), signed_inputs=True, recon_loss=loss_name)
        assert torch.isclose(model.loss(x)[0], torch.tensor(expected), atol=1e-5)


def test_quantizer_weight():
    model = mlp_autoencoder(VectorQuantizer(num_codes=16, dim=64), quantizer_weight=3.0)
    loss, logs = model.loss(torch.rand(4, 1, 28, 28))
    assert torch.isclose(loss, logs["recon"] + 3.0 * logs["quantizer_loss"])


def test_recon_loss_is_checked():
    with pytest.raises(ValueError, match="recon_loss"):
        AutoEncoder(encoder=nn.Identity(), decoder=nn.Identity(), recon_loss="ssim")


def test_residual_autoencoder_matches_the_official_layout():
    model = residual_autoencoder(VectorQuantizer(num_codes=512, dim=64), channels=3)
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.latents.shape == (2, 8, 8, 64) and out.reconstruction.shape == x.shape
    stack = model.encoder[5]
    assert stack.layers[0] is stack.layers[1]                  # one layer applied twice (official)
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 32, 128, 64]
    assert all(c.bias is None for c in stack.modules() if isinstance(c, torch.nn.Conv2d))
    separate = residual_autoencoder(shared=False, channels=1)
    assert separate.encoder[5].layers[0] is not separate.encoder[5].layers[1]
    model.loss(x)[0].backward()
    assert all(p.grad is not None for p in model.parameters())
