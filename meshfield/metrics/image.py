"""Image metrics of fields on regular grids: SSIM and PSNR, per image and channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["psnr", "ssim"]


def _gaussian(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _filter(images: Tensor, kernel: Tensor, spatial_dims: int) -> Tensor:
    """Separable 'valid' Gaussian filter over the last ``spatial_dims`` axes of ``[B, ...]``."""
    out = images.unsqueeze(1)  # [B, 1, *spatial]
    conv = F.conv2d if spatial_dims == 2 else F.conv3d
    size = kernel.numel()
    for axis in range(spatial_dims):
        shape = [1, 1] + [size if a == axis else 1 for a in range(spatial_dims)]
        out = conv(out, kernel.reshape(shape))
    return out.squeeze(1)


def _data_range(target: Tensor, spatial_dims: int, data_range: float | Tensor | None) -> Tensor:
    flat = target.flatten(start_dim=target.dim() - spatial_dims)
    if data_range is None:
        span = flat.amax(-1) - flat.amin(-1)
        # a constant reference has no range: measure against 1 instead of dividing by 0
        return torch.where(span > 0, span, torch.ones_like(span))
    return torch.as_tensor(data_range, dtype=target.dtype, device=target.device).expand(
        flat.shape[:-1]
    )


def ssim(
    prediction: Tensor,
    target: Tensor,
    *,
    data_range: float | Tensor | None = None,
    spatial_dims: int = 2,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    r"""Structural similarity of images (2D) or volumes (3D), Wang et al. (2004).

    .. math::
        \mathrm{SSIM}(x, y) = \operatorname{mean}\;
        \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
             {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \qquad C_1 = (k_1 L)^2,\; C_2 = (k_2 L)^2,

    with local means, variances and covariance under a normalized Gaussian window (standard
    deviation ``sigma``, ``window_size`` taps per axis), averaged over the positions where the
    window fits inside the image ('valid' filtering). Computed in float64.

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``[..., H, W]`` (or ``[..., D, H, W]`` with ``spatial_dims=3``); leading axes are a
        batch.
    data_range : float or torch.Tensor, optional
        :math:`L`. default: ``max - min`` of each target image (1 for a constant one).
    spatial_dims : {2, 3}, default: 2
        Image axes at the end.
    window_size : int, default: 11
        Window taps per axis; shrunk to the largest odd size that fits a small image.
    sigma : float, default: 1.5
        Standard deviation of the window, in pixels.
    k1, k2 : float, default: 0.01, 0.03
        Stabilizing constants.

    Returns
    -------
    torch.Tensor
        ``[...]``: 1 for identical images, lower for less similar ones (at least -1).

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment:
       from error visibility to structural similarity", IEEE TIP 13(4), 2004.

    Example
    -------
    >>> x = torch.rand(16, 16, dtype=torch.float64)
    >>> float(ssim(x, x))
    1.0
    """
    if spatial_dims not in (2, 3):
        msg = f"'spatial_dims' must be 2 or 3 (got {spatial_dims})"
        raise ValueError(msg)
    if prediction.shape != target.shape or prediction.dim() < spatial_dims:
        msg = (
            f"Expected prediction and target of one shape [..., {'D, ' * (spatial_dims - 2)}H, W] "
            f"(got {list(prediction.shape)} and {list(target.shape)})"
        )
        raise ValueError(msg)
    spatial = prediction.shape[prediction.dim() - spatial_dims :]
    lead = prediction.shape[: prediction.dim() - spatial_dims]
    size = min(window_size, *spatial)
    size = size if size % 2 == 1 else size - 1
    x = prediction.to(torch.float64).reshape(-1, *spatial)
    y = target.to(torch.float64).reshape(-1, *spatial)
    span = _data_range(y, spatial_dims, data_range).to(torch.float64).reshape(-1)
    kernel = _gaussian(size, sigma, torch.float64, x.device)
    mu_x, mu_y = _filter(x, kernel, spatial_dims), _filter(y, kernel, spatial_dims)
    var_x = _filter(x * x, kernel, spatial_dims) - mu_x**2
    var_y = _filter(y * y, kernel, spatial_dims) - mu_y**2
    cov = _filter(x * y, kernel, spatial_dims) - mu_x * mu_y
    view = (-1,) + (1,) * spatial_dims
    c1 = ((k1 * span) ** 2).reshape(view)
    c2 = ((k2 * span) ** 2).reshape(view)
    index = (
        (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    )
    return index.flatten(start_dim=1).mean(-1).reshape(lead)


def psnr(
    prediction: Tensor,
    target: Tensor,
    *,
    data_range: float | Tensor | None = None,
    spatial_dims: int = 2,
) -> Tensor:
    r"""Peak signal-to-noise ratio in dB, :math:`10 \log_{10}(L^2 / \mathrm{MSE})`.

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``[..., H, W]`` (or ``[..., D, H, W]`` with ``spatial_dims=3``).
    data_range : float or torch.Tensor, optional
        :math:`L`. default: ``max - min`` of each target image (1 for a constant one).
    spatial_dims : int, default: 2
        Image axes at the end.

    Returns
    -------
    torch.Tensor
        ``[...]``; ``inf`` for identical images.
    """
    if prediction.shape != target.shape:
        msg = f"Expected prediction and target of one shape (got {list(prediction.shape)} and {list(target.shape)})"
        raise ValueError(msg)
    x = prediction.to(torch.float64)
    y = target.to(torch.float64)
    span = _data_range(y, spatial_dims, data_range).to(torch.float64)
    mse = (x - y).square().flatten(start_dim=y.dim() - spatial_dims).mean(-1)
    return 10 * torch.log10(span**2 / mse)
