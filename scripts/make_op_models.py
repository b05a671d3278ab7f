#!/usr/bin/env python3
"""Generate one tiny ONNX model per operator case the Rust importer supports.

For every case NAME this writes into models/ops/ (or --out):

    NAME.onnx         the model (single float32 input "input", single output "output")
    NAME.input.npy    a fixed, seeded float32 input
    NAME.output.npy   the onnxruntime (CPU, optimisations off) output for that input

and a MANIFEST.json that lists, per case, the files, their sha256, the op types
in the graph, opset, input and output shapes.

Single-operator cases are built with onnx.helper; the few small multi-op
networks at the end are exported from torch.

Usage:
    bash scripts/setup_python.sh
    target/pyenv/bin/python scripts/make_op_models.py [--out models/ops] [--only a,b]
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    MODELS,
    fold_static_shapes,
    ort_run,
    rel,
    save_npy,
    seed_everything,
    sha256_file,
    update_models_manifest,
    versions,
    write_json,
)

PRODUCER = "tachikoma-scripts"
DEFAULT_OPSET = 13


# ----------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    description: str
    input_shape: List[int]
    # build(rng) -> (nodes, initializers); graph input is "input", output "output"
    build: Optional[Callable] = None
    opset: int = DEFAULT_OPSET
    # optional: maps a standard-normal input to the actual input (e.g. scale it)
    input_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None
    # for torch-exported networks: returns serialized onnx bytes
    torch_export: Optional[Callable[[], bytes]] = None
    tags: List[str] = field(default_factory=list)


def init(name: str, arr) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def f32(arr) -> np.ndarray:
    return np.asarray(arr, dtype=np.float32)


def i64(arr) -> np.ndarray:
    return np.asarray(arr, dtype=np.int64)


def weight(rng, shape, fan_in=None):
    """He-like scaled normal weights, float32."""
    if fan_in is None:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
    return f32(rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1)))


def bias(rng, n):
    return f32(rng.standard_normal(n) * 0.1)


def conv_node(inp, out, w, b=None, **attrs):
    ins = [inp, w] + ([b] if b else [])
    return helper.make_node("Conv", ins, [out], name=out, **attrs)


# ----------------------------------------------------------------------------
# single-op (and small hand-built multi-op) cases
# ----------------------------------------------------------------------------


def build_conv(rng):
    w, b = weight(rng, (4, 3, 3, 3)), bias(rng, 4)
    nodes = [conv_node("input", "output", "W", "B", kernel_shape=[3, 3],
                       strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1)]
    return nodes, [init("W", w), init("B", b)]


def build_conv_stride2_dilation2(rng):
    w, b = weight(rng, (4, 3, 3, 3)), bias(rng, 4)
    nodes = [conv_node("input", "output", "W", "B", kernel_shape=[3, 3],
                       strides=[2, 2], pads=[2, 2, 2, 2], dilations=[2, 2])]
    return nodes, [init("W", w), init("B", b)]


def build_conv_group(rng):
    w, b = weight(rng, (6, 2, 3, 3)), bias(rng, 6)
    nodes = [conv_node("input", "output", "W", "B", kernel_shape=[3, 3],
                       strides=[1, 1], pads=[1, 1, 1, 1], group=2)]
    return nodes, [init("W", w), init("B", b)]


def build_conv_depthwise(rng):
    w, b = weight(rng, (4, 1, 3, 3)), bias(rng, 4)
    nodes = [conv_node("input", "output", "W", "B", kernel_shape=[3, 3],
                       strides=[1, 1], pads=[1, 1, 1, 1], group=4)]
    return nodes, [init("W", w), init("B", b)]


def build_conv_no_bias(rng):
    w = weight(rng, (4, 3, 3, 3))
    nodes = [conv_node("input", "output", "W", None, kernel_shape=[3, 3],
                       strides=[1, 1], pads=[0, 1, 2, 1])]  # asymmetric padding too
    return nodes, [init("W", w)]


def build_conv_1x1_no_pads_attr(rng):
    # kernel_shape/strides/pads omitted: defaults must be inferred from W
    w, b = weight(rng, (5, 3, 1, 1)), bias(rng, 5)
    nodes = [conv_node("input", "output", "W", "B")]
    return nodes, [init("W", w), init("B", b)]


def build_gemm(rng):
    w, c = weight(rng, (8, 16)), bias(rng, 8)
    nodes = [helper.make_node("Gemm", ["input", "W", "C"], ["output"], name="gemm",
                              alpha=0.5, beta=2.0, transA=0, transB=1)]
    return nodes, [init("W", w), init("C", c)]


def build_gemm_no_trans(rng):
    w, c = weight(rng, (16, 8), fan_in=16), bias(rng, 8)
    nodes = [helper.make_node("Gemm", ["input", "W", "C"], ["output"], name="gemm")]
    return nodes, [init("W", w), init("C", c)]


def build_matmul(rng):
    w = weight(rng, (16, 8), fan_in=16)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["output"], name="matmul")]
    return nodes, [init("W", w)]


def build_matmul_batched(rng):
    # [2,4,16] x [2,16,8] -> [2,4,8], constant 3-D weight (true batched matmul)
    w = weight(rng, (2, 16, 8), fan_in=16)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["output"], name="matmul")]
    return nodes, [init("W", w)]


def build_matmul_broadcast(rng):
    # [2,4,16] x [16,8] -> [2,4,8], the weight broadcasts over the batch axis
    w = weight(rng, (16, 8), fan_in=16)
    nodes = [helper.make_node("MatMul", ["input", "W"], ["output"], name="matmul")]
    return nodes, [init("W", w)]


def build_add_broadcast(rng):
    c = f32(rng.standard_normal((1, 3, 1, 1)))
    nodes = [helper.make_node("Add", ["input", "C"], ["output"], name="add")]
    return nodes, [init("C", c)]


def build_sub(rng):
    # constant on the left: C - x, with C per-channel [3,1,1] (rank broadcast)
    c = f32(rng.standard_normal((3, 1, 1)))
    nodes = [helper.make_node("Sub", ["C", "input"], ["output"], name="sub")]
    return nodes, [init("C", c)]


def build_mul(rng):
    c = f32(rng.standard_normal((1, 3, 8, 8)))
    nodes = [helper.make_node("Mul", ["input", "C"], ["output"], name="mul")]
    return nodes, [init("C", c)]


def build_add_two_branches(rng):
    # both Add operands are activations: relu(x) + x*C
    c = f32(rng.standard_normal((1, 3, 1, 1)))
    nodes = [
        helper.make_node("Relu", ["input"], ["r"], name="relu"),
        helper.make_node("Mul", ["input", "C"], ["m"], name="mul"),
        helper.make_node("Add", ["r", "m"], ["output"], name="add"),
    ]
    return nodes, [init("C", c)]


def build_constant_node(rng):
    # the constant comes from a Constant node (as torch exports) instead of an initializer
    c = f32(rng.standard_normal((1, 3, 1, 1)))
    nodes = [
        helper.make_node("Constant", [], ["c"], name="const", value=init("c", c)),
        helper.make_node("Add", ["input", "c"], ["output"], name="add"),
    ]
    return nodes, []


def build_div_const(rng):
    nodes = [helper.make_node("Div", ["input", "D"], ["output"], name="div")]
    return nodes, [init("D", f32(4.0))]  # rank-0 scalar


def unary(op, **attrs):
    def build(rng):
        return [helper.make_node(op, ["input"], ["output"], name=op.lower(), **attrs)], []
    return build


def build_clip(rng):
    nodes = [helper.make_node("Clip", ["input", "min", "max"], ["output"], name="clip")]
    return nodes, [init("min", f32(0.0)), init("max", f32(6.0))]


def build_clip_opset11(rng):
    # opset 11 also takes min/max as inputs; here only max is given (min omitted)
    nodes = [helper.make_node("Clip", ["input", "", "max"], ["output"], name="clip")]
    return nodes, [init("max", f32(6.0))]


def build_softmax(rng):
    return [helper.make_node("Softmax", ["input"], ["output"], name="softmax", axis=-1)], []


def build_softmax_opset11(rng):
    # opset < 13 semantics: coerce to 2-D at `axis`; with a 2-D input and axis=1
    # this is the same as the opset 13 definition.
    return [helper.make_node("Softmax", ["input"], ["output"], name="softmax", axis=1)], []


def build_maxpool(rng):
    return [helper.make_node("MaxPool", ["input"], ["output"], name="maxpool",
                             kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], []


def build_maxpool_ceil(rng):
    return [helper.make_node("MaxPool", ["input"], ["output"], name="maxpool",
                             kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0],
                             ceil_mode=1)], []


def build_maxpool_k2(rng):
    return [helper.make_node("MaxPool", ["input"], ["output"], name="maxpool",
                             kernel_shape=[2, 2], strides=[2, 2])], []


def build_averagepool(rng):
    return [helper.make_node("AveragePool", ["input"], ["output"], name="avgpool",
                             kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                             count_include_pad=0)], []


def build_averagepool_pad1(rng):
    return [helper.make_node("AveragePool", ["input"], ["output"], name="avgpool",
                             kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                             count_include_pad=1)], []


def build_averagepool_k2(rng):
    return [helper.make_node("AveragePool", ["input"], ["output"], name="avgpool",
                             kernel_shape=[2, 2], strides=[2, 2])], []


def build_global_average_pool(rng):
    return [helper.make_node("GlobalAveragePool", ["input"], ["output"], name="gap")], []


def build_batchnorm(rng):
    c = 3
    scale = f32(rng.uniform(0.5, 1.5, c))
    b = bias(rng, c)
    mean = f32(rng.standard_normal(c) * 0.2)
    var = f32(rng.uniform(0.5, 2.0, c))
    nodes = [helper.make_node("BatchNormalization", ["input", "scale", "B", "mean", "var"],
                              ["output"], name="bn", epsilon=1e-5)]
    return nodes, [init("scale", scale), init("B", b), init("mean", mean), init("var", var)]


def build_concat(rng):
    w1, b1 = weight(rng, (2, 3, 1, 1)), bias(rng, 2)
    w2, b2 = weight(rng, (3, 3, 3, 3)), bias(rng, 3)
    nodes = [
        conv_node("input", "a", "W1", "B1", kernel_shape=[1, 1]),
        conv_node("input", "b", "W2", "B2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["a", "b"], ["output"], name="concat", axis=1),
    ]
    return nodes, [init("W1", w1), init("B1", b1), init("W2", w2), init("B2", b2)]


def build_reshape(rng):
    # 0 copies the input dim, -1 is inferred: [1,3,8,8] -> [1,12,16]
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"], name="reshape")]
    return nodes, [init("shape", i64([0, -1, 16]))]


def build_flatten(rng):
    return [helper.make_node("Flatten", ["input"], ["output"], name="flatten", axis=1)], []


def build_transpose(rng):
    return [helper.make_node("Transpose", ["input"], ["output"], name="transpose",
                             perm=[0, 2, 3, 1])], []


def build_squeeze_unsqueeze(rng):
    # opset 13: axes are inputs. [1,3,1,8] -> squeeze(2) -> [1,3,8] -> unsqueeze(-1) -> [1,3,8,1]
    nodes = [
        helper.make_node("Squeeze", ["input", "sq_axes"], ["s"], name="squeeze"),
        helper.make_node("Unsqueeze", ["s", "unsq_axes"], ["output"], name="unsqueeze"),
    ]
    return nodes, [init("sq_axes", i64([2])), init("unsq_axes", i64([-1]))]


def build_squeeze_unsqueeze_opset11(rng):
    # opset 11: axes are attributes
    nodes = [
        helper.make_node("Squeeze", ["input"], ["s"], name="squeeze", axes=[2]),
        helper.make_node("Unsqueeze", ["s"], ["output"], name="unsqueeze", axes=[3]),
    ]
    return nodes, []


def build_slice(rng):
    # rows 1..7, every second column: [1,3,8,8] -> [1,3,6,4]
    nodes = [helper.make_node("Slice", ["input", "starts", "ends", "axes", "steps"],
                              ["output"], name="slice")]
    return nodes, [init("starts", i64([1, 0])), init("ends", i64([7, 2**62])),
                   init("axes", i64([2, 3])), init("steps", i64([1, 2]))]


def build_slice_negative(rng):
    # negative starts/ends and no steps: channels [-2:], last row dropped
    nodes = [helper.make_node("Slice", ["input", "starts", "ends", "axes"],
                              ["output"], name="slice")]
    return nodes, [init("starts", i64([-2, 0])), init("ends", i64([2**62, -1])),
                   init("axes", i64([1, 2]))]


def build_split(rng):
    # opset 13: split sizes as input. [1,4,8,8] -> [1,1,..] + [1,3,..] -> concat swapped
    nodes = [
        helper.make_node("Split", ["input", "split"], ["a", "b"], name="split", axis=1),
        helper.make_node("Concat", ["b", "a"], ["output"], name="concat", axis=1),
    ]
    return nodes, [init("split", i64([1, 3]))]


def build_split_equal_opset11(rng):
    # opset 11: no split sizes -> equal parts; two outputs recombined with Add
    nodes = [
        helper.make_node("Split", ["input"], ["a", "b"], name="split", axis=1),
        helper.make_node("Add", ["a", "b"], ["output"], name="add"),
    ]
    return nodes, []


def build_reduce_mean(rng):
    # as torch exports x.mean([2, 3]) at opset 13 (axes attribute, keepdims=0)
    return [helper.make_node("ReduceMean", ["input"], ["output"], name="reducemean",
                             axes=[2, 3], keepdims=0)], []


def build_reduce_mean_keepdims(rng):
    return [helper.make_node("ReduceMean", ["input"], ["output"], name="reducemean",
                             axes=[-1], keepdims=1)], []


def build_pad(rng):
    # opset 13: pads (and constant value) are inputs. pads = [x1_begin.., x1_end..]
    nodes = [helper.make_node("Pad", ["input", "pads", "value"], ["output"], name="pad",
                              mode="constant")]
    return nodes, [init("pads", i64([0, 0, 1, 2, 0, 0, 1, 2])), init("value", f32(0.5))]


def build_pad_zero(rng):
    nodes = [helper.make_node("Pad", ["input", "pads"], ["output"], name="pad")]
    return nodes, [init("pads", i64([0, 0, 1, 1, 0, 0, 2, 0]))]


def build_resize_nearest(rng):
    # opset 13 Resize as torch exports nn.Upsample(scale_factor=2, mode="nearest")
    nodes = [helper.make_node("Resize", ["input", "roi", "scales"], ["output"], name="resize",
                              mode="nearest", coordinate_transformation_mode="asymmetric",
                              nearest_mode="floor")]
    return nodes, [init("roi", f32([])), init("scales", f32([1, 1, 2, 2]))]


def build_resize_nearest_sizes(rng):
    # opset 13 Resize given output sizes instead of scales (roi/scales empty)
    nodes = [helper.make_node("Resize", ["input", "", "", "sizes"], ["output"], name="resize",
                              mode="nearest", coordinate_transformation_mode="asymmetric",
                              nearest_mode="floor")]
    return nodes, [init("sizes", i64([1, 3, 16, 16]))]


def build_upsample_opset9(rng):
    nodes = [helper.make_node("Upsample", ["input", "scales"], ["output"], name="upsample",
                              mode="nearest")]
    return nodes, [init("scales", f32([1, 1, 2, 2]))]


def build_identity_dropout(rng):
    nodes = [
        helper.make_node("Identity", ["input"], ["i"], name="identity"),
        helper.make_node("Dropout", ["i"], ["d"], name="dropout"),
        helper.make_node("Relu", ["d"], ["output"], name="relu"),
    ]
    return nodes, []


def build_channel_shuffle(rng):
    # ShuffleNet channel shuffle with 2 groups: [1,4,8,8] -> [1,2,2,8,8] -> T -> [1,4,8,8]
    nodes = [
        helper.make_node("Reshape", ["input", "shape1"], ["r1"], name="reshape1"),
        helper.make_node("Transpose", ["r1"], ["t"], name="transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t", "shape2"], ["output"], name="reshape2"),
    ]
    return nodes, [init("shape1", i64([1, 2, 2, 8, 8])), init("shape2", i64([1, 4, 8, 8]))]


def build_residual(rng):
    w1, b1 = weight(rng, (3, 3, 3, 3)), bias(rng, 3)
    w2, b2 = weight(rng, (3, 3, 3, 3)), bias(rng, 3)
    nodes = [
        conv_node("input", "c1", "W1", "B1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        conv_node("r1", "c2", "W2", "B2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "input"], ["output"], name="add"),
    ]
    return nodes, [init("W1", w1), init("B1", b1), init("W2", w2), init("B2", b2)]


# ----------------------------------------------------------------------------
# torch-exported small networks
# ----------------------------------------------------------------------------


def _torch_export(module, input_shape, opset=DEFAULT_OPSET) -> bytes:
    import torch

    module.eval()
    x = torch.zeros(*input_shape)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, (x,), buf, opset_version=opset, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          export_params=True, keep_initializers_as_inputs=False)
    return fold_static_shapes(onnx.load_from_string(buf.getvalue())).SerializeToString()


def _randomize_bn(module, gen):
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def export_tiny_cnn() -> bytes:
    import torch
    from torch import nn

    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(11)

    class TinyCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, stride=1, padding=1)
            self.bn2 = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc = nn.Linear(16 * 2 * 2, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool(torch.relu(self.bn2(self.conv2(x))))
            return self.fc(torch.flatten(x, 1))

    m = TinyCNN()
    _randomize_bn(m, gen)
    return _torch_export(m, (1, 3, 8, 8))


def export_tiny_mobilenet_block() -> bytes:
    import torch
    from torch import nn

    torch.manual_seed(2)
    gen = torch.Generator().manual_seed(12)

    class InvertedResidual(nn.Module):
        """expand 1x1 -> depthwise 3x3 -> hardswish -> project 1x1, + skip."""

        def __init__(self, c=4, e=8):
            super().__init__()
            self.expand = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e),
                                        nn.Hardswish())
            self.dw = nn.Sequential(nn.Conv2d(e, e, 3, stride=1, padding=1, groups=e,
                                              bias=False), nn.BatchNorm2d(e), nn.Hardswish())
            self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            return x + self.project(self.dw(self.expand(x)))

    m = InvertedResidual()
    _randomize_bn(m, gen)
    return _torch_export(m, (1, 4, 8, 8))


def export_se_block() -> bytes:
    import torch
    from torch import nn

    torch.manual_seed(3)

    class SEBlock(nn.Module):
        """conv -> relu -> squeeze-excite (GAP, 1x1 conv, relu, 1x1 conv, sigmoid, mul)."""

        def __init__(self, c=8, r=4):
            super().__init__()
            self.conv = nn.Conv2d(3, c, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, c // r, 1)
            self.fc2 = nn.Conv2d(c // r, c, 1)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            s = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))
            return x * s

    return _torch_export(SEBlock(), (1, 3, 8, 8))


# ----------------------------------------------------------------------------
# the case list
# ----------------------------------------------------------------------------

X = [1, 3, 8, 8]


def times(k):
    return lambda x: x * k


CASES: List[Case] = [
    Case("conv", "Conv 3->4, 3x3, stride 1, pad 1, bias", X, build_conv),
    Case("conv_stride2_dilation2", "Conv 3x3, stride 2, dilation 2, pad 2", X,
         build_conv_stride2_dilation2),
    Case("conv_group", "Conv group=2, 4->6 channels", [1, 4, 8, 8], build_conv_group),
    Case("conv_depthwise", "Depthwise Conv, group=C=4", [1, 4, 8, 8], build_conv_depthwise),
    Case("conv_no_bias", "Conv without bias, asymmetric pads [0,1,2,1]", X, build_conv_no_bias),
    Case("conv_1x1_default_attrs", "Conv 1x1 with no kernel_shape/strides/pads attributes", X,
         build_conv_1x1_no_pads_attr),
    Case("gemm", "Gemm transB=1, bias, alpha=0.5, beta=2", [1, 16], build_gemm),
    Case("gemm_no_trans", "Gemm with default attributes (no transpose, alpha=beta=1)", [1, 16],
         build_gemm_no_trans),
    Case("matmul", "MatMul 2-D [2,16]x[16,8], constant weight", [2, 16], build_matmul),
    Case("matmul_batched", "MatMul 3-D [2,4,16]x[2,16,8], constant 3-D weight", [2, 4, 16],
         build_matmul_batched),
    Case("matmul_broadcast", "MatMul [2,4,16]x[16,8], 2-D weight broadcast", [2, 4, 16],
         build_matmul_broadcast),
    Case("add_broadcast", "Add per-channel constant [1,C,1,1]", X, build_add_broadcast),
    Case("add_two_branches", "Add of two activations: relu(x) + x*c", X, build_add_two_branches),
    Case("constant_node", "Add of a Constant-node tensor [1,C,1,1]", X, build_constant_node),
    Case("sub", "Sub constant[C,1,1] - x (constant first, rank broadcast)", X, build_sub),
    Case("mul", "Mul by full-shape constant", X, build_mul),
    Case("div_const", "Div by rank-0 constant 4.0", X, build_div_const),
    Case("relu", "Relu", X, unary("Relu")),
    Case("clip", "Clip min=0 max=6 as inputs (relu6), opset 13", X, build_clip,
         input_fn=times(4.0)),
    Case("clip_opset11", "Clip opset 11 with only max given", X, build_clip_opset11, opset=11,
         input_fn=times(4.0)),
    Case("leaky_relu", "LeakyRelu alpha=0.1", X, unary("LeakyRelu", alpha=0.1)),
    Case("sigmoid", "Sigmoid", X, unary("Sigmoid"), input_fn=times(3.0)),
    Case("hard_sigmoid", "HardSigmoid alpha=0.2 beta=0.5 (defaults)", X, unary("HardSigmoid"),
         input_fn=times(3.0)),
    Case("hard_sigmoid_torch", "HardSigmoid alpha=1/6 beta=0.5 (as torch exports)", X,
         unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5), input_fn=times(3.0)),
    Case("hard_swish", "HardSwish (opset 14)", X, unary("HardSwish"), opset=14,
         input_fn=times(3.0)),
    Case("softmax", "Softmax axis=-1 (opset 13) on [2,10]", [2, 10], build_softmax,
         input_fn=times(2.0)),
    Case("softmax_4d", "Softmax axis=-1 (opset 13) on [1,3,8,8]", X, build_softmax),
    Case("softmax_opset11", "Softmax axis=1 (opset 11) on 2-D input", [2, 10],
         build_softmax_opset11, opset=11, input_fn=times(2.0)),
    Case("maxpool", "MaxPool k3 s2 p1", X, build_maxpool),
    Case("maxpool_ceil", "MaxPool k3 s2 p0 ceil_mode=1", X, build_maxpool_ceil),
    Case("maxpool_k2", "MaxPool k2 s2", X, build_maxpool_k2),
    Case("averagepool", "AveragePool k3 s2 p1 count_include_pad=0", X, build_averagepool),
    Case("averagepool_pad1", "AveragePool k3 s2 p1 count_include_pad=1", X,
         build_averagepool_pad1),
    Case("averagepool_k2", "AveragePool k2 s2 (LeNet)", X, build_averagepool_k2),
    Case("global_average_pool", "GlobalAveragePool", X, build_global_average_pool),
    Case("batchnorm", "BatchNormalization (inference) eps=1e-5", X, build_batchnorm),
    Case("concat", "Concat axis=1 of two conv branches (2 + 3 channels)", X, build_concat),
    Case("reshape", "Reshape to [0,-1,16]", X, build_reshape),
    Case("flatten", "Flatten axis=1", X, build_flatten),
    Case("transpose", "Transpose perm [0,2,3,1]", X, build_transpose),
    Case("squeeze_unsqueeze", "Squeeze/Unsqueeze with axes as inputs (opset 13)", [1, 3, 1, 8],
         build_squeeze_unsqueeze),
    Case("squeeze_unsqueeze_opset11", "Squeeze/Unsqueeze with axes attributes (opset 11)",
         [1, 3, 1, 8], build_squeeze_unsqueeze_opset11, opset=11),
    Case("slice", "Slice axes [2,3] starts [1,0] ends [7,INT_MAX] steps [1,2]", X, build_slice),
    Case("slice_negative", "Slice with negative starts/ends, no steps", X,
         build_slice_negative),
    Case("split", "Split axis=1 sizes [1,3] (input), outputs concatenated swapped",
         [1, 4, 8, 8], build_split),
    Case("split_equal_opset11", "Split axis=1 into equal halves (opset 11), Add of the halves",
         [1, 4, 8, 8], build_split_equal_opset11, opset=11),
    Case("reduce_mean", "ReduceMean axes [2,3] keepdims=0 (torch x.mean([2,3]))", X,
         build_reduce_mean),
    Case("reduce_mean_keepdims", "ReduceMean axes [-1] keepdims=1", X,
         build_reduce_mean_keepdims),
    Case("pad", "Pad constant mode, value 0.5, pads as input", X, build_pad),
    Case("pad_zero", "Pad constant mode, default value 0", X, build_pad_zero),
    Case("resize_nearest", "Resize nearest x2 (asymmetric, floor) with scales", X,
         build_resize_nearest),
    Case("resize_nearest_sizes", "Resize nearest to sizes [1,3,16,16]", X,
         build_resize_nearest_sizes),
    Case("upsample_opset9", "Upsample nearest x2 (opset 9)", X, build_upsample_opset9, opset=9),
    Case("identity_dropout", "Identity -> Dropout (inference) -> Relu", X,
         build_identity_dropout),
    Case("channel_shuffle", "Reshape->Transpose->Reshape channel shuffle, 2 groups",
         [1, 4, 8, 8], build_channel_shuffle),
    Case("residual", "Conv->Relu->Conv + skip Add", X, build_residual),
    Case("net_tiny_cnn", "torch: conv-bn-relu-maxpool x2, flatten, linear (BN folded on export)",
         X, torch_export=export_tiny_cnn, tags=["torch"]),
    Case("net_mobilenet_block", "torch: inverted residual, depthwise conv + hardswish + skip",
         [1, 4, 8, 8], torch_export=export_tiny_mobilenet_block, tags=["torch"]),
    Case("net_se_block", "torch: conv-relu + squeeze-excite (GAP, sigmoid, mul)", X,
         torch_export=export_se_block, tags=["torch"]),
]


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------


def make_helper_model(case: Case, rng) -> onnx.ModelProto:
    nodes, inits = case.build(rng)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, case.input_shape)
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, case.name, [inp], [out], initializer=inits)
    model = helper.make_model(graph, producer_name=PRODUCER,
                              opset_imports=[helper.make_opsetid("", case.opset)])
    return model


def set_output_shape(model: onnx.ModelProto, shape) -> None:
    out = model.graph.output[0]
    out.type.tensor_type.ClearField("shape")
    dims = out.type.tensor_type.shape.dim
    for d in shape:
        dims.add().dim_value = int(d)
    if len(shape) == 0:
        out.type.tensor_type.shape.SetInParent()


def build_case(case: Case, out_dir: Path, index: int) -> dict:
    seed_everything(1000 + index)
    rng = np.random.default_rng(1000 + index)
    onnx_path = out_dir / f"{case.name}.onnx"
    in_path = out_dir / f"{case.name}.input.npy"
    out_path = out_dir / f"{case.name}.output.npy"

    if case.torch_export is not None:
        model = onnx.load_from_string(case.torch_export())
        onnx.checker.check_model(model)
    else:
        model = make_helper_model(case, rng)

    x_rng = np.random.default_rng(2000 + index)
    x = f32(x_rng.standard_normal(case.input_shape))
    if case.input_fn is not None:
        x = f32(case.input_fn(x))

    onnx.save(model, str(onnx_path))
    y = ort_run(onnx_path, x)
    if case.torch_export is None:
        # record the static output shape, then check shape inference agrees
        set_output_shape(model, y.shape)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(onnx_path))
        y2 = ort_run(onnx_path, x)
        assert np.array_equal(y, y2), case.name
    else:
        onnx.checker.check_model(model, full_check=True)
    assert np.all(np.isfinite(y)), case.name

    save_npy(in_path, x)
    save_npy(out_path, y)

    ops = []
    for n in model.graph.node:
        if n.op_type not in ops:
            ops.append(n.op_type)
    files = {"onnx": onnx_path.name, "input": in_path.name, "output": out_path.name}
    return {
        "name": case.name,
        "description": case.description,
        "source": "torch.onnx.export" if case.torch_export is not None else "onnx.helper",
        "opset": case.opset,
        "ir_version": int(model.ir_version),
        "op_types": ops,
        "num_nodes": len(model.graph.node),
        "input_shape": list(case.input_shape),
        "output_shape": list(y.shape),
        "files": files,
        "sha256": {k: sha256_file(out_dir / v) for k, v in files.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=MODELS / "ops")
    ap.add_argument("--only", default="", help="comma separated case names")
    ap.add_argument("--list", action="store_true", help="list case names and exit")
    args = ap.parse_args(argv)

    if args.list:
        for c in CASES:
            print(f"{c.name:28s} {c.description}")
        return 0

    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    only = [s for s in args.only.split(",") if s]
    for s in only:
        if s not in names:
            ap.error(f"unknown case {s!r}")

    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "MANIFEST.json"

    entries = {}
    if only and manifest_path.exists():
        import json

        with open(manifest_path) as f:
            entries = {e["name"]: e for e in json.load(f)["cases"]}
    elif not only:
        # full regeneration: remove stale generated files
        for p in out_dir.iterdir():
            if p.suffix in (".onnx", ".npy"):
                p.unlink()

    for i, case in enumerate(CASES):
        if only and case.name not in only:
            continue
        entry = build_case(case, out_dir, i)
        entries[case.name] = entry
        print(f"{case.name:28s} opset {case.opset:2d} {str(entry['input_shape']):16s} -> "
              f"{str(entry['output_shape']):16s} {','.join(entry['op_types'])}")

    cases = [entries[n] for n in names if n in entries]
    try:
        out_rel = rel(out_dir)
    except ValueError:
        out_rel = str(out_dir)
    write_json(manifest_path, {
        "description": "Tiny ONNX models, one per operator case, with a seeded float32 input "
                       "and the onnxruntime output (CPU, graph optimisations disabled).",
        "generator": "target/pyenv/bin/python scripts/make_op_models.py",
        "directory": out_rel,
        "versions": versions(),
        "cases": cases,
    })
    print(f"wrote {len(cases)} cases to {out_dir}")
    if MODELS.resolve() in out_dir.resolve().parents:
        update_models_manifest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
