"""Selective state-space layers: the Mamba-2 scan (SSD) and Mamba blocks.

The torch backend runs everywhere (:func:`ssd_chunked`, checked against the sequential
recurrence :func:`ssd_reference`; for float32 on the CPU it runs the compiled scan kernel of
:mod:`meshfield.nn.ssm.cpu_scan`, built on first use); the ``mamba_ssm`` CUDA kernels are
imported only inside :class:`Mamba` when a CUDA input asks for them, never by importing this
package.
"""

from __future__ import annotations

from meshfield.nn.ssm.bimamba import BiMamba
from meshfield.nn.ssm.conv import causal_conv1d
from meshfield.nn.ssm.mamba import Mamba
from meshfield.nn.ssm.norm import RMSNormGated
from meshfield.nn.ssm.reference import ssd_reference
from meshfield.nn.ssm.ssd import ssd_chunked

__all__ = [
    "BiMamba",
    "Mamba",
    "RMSNormGated",
    "causal_conv1d",
    "ssd_chunked",
    "ssd_reference",
]
