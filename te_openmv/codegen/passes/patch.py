"""Patch-based inference (MCUNetV2) for the memory-hungry first stage of a network.

The first layers of a vision model hold the largest feature maps. Run as one stage, patch
by patch, they never hold more than one patch's feature maps: the stage's ops (a chain of
convolutions ending at layer `split`) are unrolled once per patch of the stage's output,
each working on real patch-shaped tensors with the halo it needs (recomputed where patches
overlap). Per patch:
    TE_CROP   copies the patch's input window out of the stage input (the model's input),
    the stage's ops run on patch tensors with explicit per-patch padding,
    TE_PLACE  copies the patch's result into its window of the stage's full output.
Padding stays exact: a patch op pads only where its window leaves the whole feature map
(there the full-size op pads with the zero point too); inside the map it reads the halo
instead. The lowerings emit patch ops unchanged (padding "VALID" + attrs["pad"]), and
identical weights are emitted once.

The stage input and output may also share memory: patches run in raster order, so the
output rows written so far lie behind the input rows still to be read; the first
TE_PLACE carries that permission as attrs["overlap"] for the planner.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from te_openmv.codegen.errors import CompileError
from te_openmv.codegen.graph import Graph, Op, Tensor
from te_openmv.codegen.lower.conv import conv_padding
from te_openmv.codegen.passes.overlap import light_copy

SPATIAL = ("CONV_2D", "DEPTHWISE_CONV_2D")
MAX_GRID = 8


@dataclass(frozen=True)
class PatchSpec:
    rows: int  # patches along the height of the stage's output
    cols: int  # patches along its width
    split: int  # position (in the layer-based schedule) of the stage's last op

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}@{self.split}"


def parse_patch(spec: str) -> str | PatchSpec:
    """'off', 'auto' or 'ROWSxCOLS@LAYER' (e.g. '4x4@4')."""
    spec = spec.strip().lower()
    if spec in ("off", "auto"):
        return spec
    m = re.fullmatch(r"(\d+)x(\d+)@(\d+)", spec)
    if not m:
        raise CompileError(f"patch setting {spec!r}: expected off, auto or GRIDxGRID@LAYER (e.g. 4x4@4: a 4x4 "
                           f"grid of patches over the output of layer 4, the op position in the report)")
    rows, cols, split = map(int, m.groups())
    if not (1 <= rows <= 64 and 1 <= cols <= 64) or rows * cols < 2:
        raise CompileError(f"patch setting {spec!r}: the grid must have at least 2 patches and at most 64 "
                           f"per side")
    return PatchSpec(rows, cols, split)


@dataclass
class Layer:
    """One stage op's full-map geometry (per axis: height, width)."""
    op: Op
    k: tuple[int, int]
    s: tuple[int, int]
    pad: tuple[int, int]  # implicit padding before the first row / column of the full map
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]


def _layer(g: Graph, op: Op) -> Layer:
    w = g.t(op.inputs[1])
    k = (w.shape[1], w.shape[2])
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return Layer(op, k, (op.options.get("stride_h", 1), op.options.get("stride_w", 1)),
                 conv_padding(g, op, *k), (x.shape[1], x.shape[2]), (y.shape[1], y.shape[2]))


def stage_layers(g: Graph, split: int) -> list[Layer]:
    """The stage ops[0..split] as Layers, or CompileError saying why it cannot be patched."""
    where = f"patching up to layer {split}"
    if not 0 <= split < len(g.ops):
        raise CompileError(f"{where}: the model has layers 0..{len(g.ops) - 1}")
    consumers = g.consumers()
    layers = []
    prev = None
    for pos, op in enumerate(g.ops[:split + 1]):
        if op.type not in SPATIAL:
            raise CompileError(f"{where}: layer {pos} is {op.type}; a patched stage holds convolutions only "
                               f"(CONV_2D, DEPTHWISE_CONV_2D)")
        acts = [i for i in op.inputs if i >= 0 and not g.t(i).is_const]
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if len(acts) != 1 or acts[0] != op.inputs[0] or len(op.outputs) != 1 or len(x.shape) != 4 \
                or len(y.shape) != 4:
            raise CompileError(f"{where}: layer {pos} ({op.type}) is not a single-input NHWC convolution")
        if prev is None:
            if g.storage_of(x.id) not in [g.storage_of(t) for t in g.inputs]:
                raise CompileError(f"{where}: layer 0 does not read the model's input")
        elif op.inputs[0] != prev:
            raise CompileError(f"{where}: layer {pos} does not read layer {pos - 1}'s output (the stage must "
                               f"be a chain)")
        if pos < split:
            users = consumers.get(y.id, [])
            if y.id in g.outputs or len(users) != 1 or g.aliases and any(
                    g.storage_of(a) == y.id and a != y.id for a in g.aliases):
                raise CompileError(f"{where}: layer {pos}'s output is used outside the stage (a branch or a "
                                   f"model output); end the stage at layer {pos} or earlier")
        layers.append(_layer(g, op))
        prev = y.id
    return layers


def valid_splits(g: Graph) -> list[int]:
    out = []
    for split in range(len(g.ops)):
        try:
            stage_layers(g, split)
        except CompileError:
            break  # a longer stage contains the same obstacle
        out.append(split)
    return out


def split_1d(n: int, parts: int) -> list[tuple[int, int]]:
    """n positions in `parts` nearly equal consecutive ranges."""
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts)]


def back_1d(layer: Layer, axis: int, o0: int, o1: int) -> tuple[int, int, int, int]:
    """Output range [o0, o1) along an axis -> (input range a, b, pad before, pad after)."""
    k, s, p, size = layer.k[axis], layer.s[axis], layer.pad[axis], layer.in_hw[axis]
    rs = o0 * s - p
    re_ = (o1 - 1) * s - p + k
    a, b = max(rs, 0), min(re_, size)
    return a, b, a - rs, re_ - b


@dataclass
class PatchOp:
    """Where one stage op runs in one patch: its output window and the input window it reads."""
    out_rows: tuple[int, int]
    out_cols: tuple[int, int]
    in_rows: tuple[int, int]
    in_cols: tuple[int, int]
    pad: tuple[int, int, int, int]  # top, bottom, left, right


def patch_windows(layers: list[Layer], rows: int, cols: int) -> list[list[PatchOp]]:
    """Per patch (raster order), per layer: windows, walking back from the stage output."""
    oh, ow = layers[-1].out_hw
    if rows > oh or cols > ow:
        raise CompileError(f"a {rows}x{cols} grid does not fit layer {len(layers) - 1}'s {oh}x{ow} output")
    patches = []
    for r in split_1d(oh, rows):
        for c in split_1d(ow, cols):
            ops: list[PatchOp] = []
            out_r, out_c = r, c
            for layer in reversed(layers):
                a, b, pt, pb = back_1d(layer, 0, *out_r)
                ca, cb, pl, pr = back_1d(layer, 1, *out_c)
                ops.append(PatchOp(out_r, out_c, (a, b), (ca, cb), (pt, pb, pl, pr)))
                out_r, out_c = (a, b), (ca, cb)
            patches.append(ops[::-1])
    return patches


def _stage_overlap(g: Graph, x: Tensor, y: Tensor, patches: list[list[PatchOp]]) -> int:
    """Smallest distance the stage output may start below the stage input: TE_PLACE of patch
    p must not land on input bytes a later patch's TE_CROP reads."""
    xw, xc, yw, yc = x.shape[2], x.shape[3], y.shape[2], y.shape[3]
    first_read = [(p[0].in_rows[0] * xw + p[0].in_cols[0]) * xc for p in patches]
    last_write = [((p[-1].out_rows[1] - 1) * yw + p[-1].out_cols[1]) * yc for p in patches]
    write_end = np.maximum.accumulate(np.array(last_write[:-1], np.int64))
    read_from = np.minimum.accumulate(np.array(first_read[1:], np.int64)[::-1])[::-1]
    return max(0, int(np.max(write_end - read_from))) if len(patches) > 1 else 0


def apply(g: Graph, spec: PatchSpec) -> Graph:
    """The graph with ops[0..spec.split] run patch by patch."""
    layers = stage_layers(g, spec.split)
    g = light_copy(g)  # the stage's ops and tensors are replaced, the others kept as they are
    layers = [_layer(g, g.ops[i]) for i in range(len(layers))]
    patches = patch_windows(layers, spec.rows, spec.cols)
    x_full, y_full = g.t(layers[0].op.inputs[0]), g.t(layers[-1].op.outputs[0])
    next_id = max(g.tensors) + 1

    def new_tensor(like: Tensor, rows: tuple[int, int], cols: tuple[int, int], tag: str) -> int:
        nonlocal next_id
        t = Tensor(next_id, f"{like.name}/{tag}", (1, rows[1] - rows[0], cols[1] - cols[0], like.shape[3]),
                   like.dtype, like.scale, like.zero_point, like.quant_axis)
        g.tensors[next_id] = t
        next_id += 1
        return t.id

    ops: list[Op] = []
    for pi, windows in enumerate(patches):
        tag = f"patch{pi}"
        w0 = windows[0]
        cur = new_tensor(x_full, w0.in_rows, w0.in_cols, tag)
        ops.append(Op(layers[0].op.index, "TE_CROP", [x_full.id], [cur],
                      attrs={"window": (w0.in_rows[0], w0.in_cols[0]), "patch": pi}))
        for layer, w in zip(layers, windows):
            src = layer.op
            out = new_tensor(g.t(src.outputs[0]), w.out_rows, w.out_cols, tag)
            attrs = {k: v for k, v in src.attrs.items() if k not in ("pad", "inplace", "overlap")}
            attrs.update(pad=w.pad, patch=pi)
            ops.append(Op(src.index, src.type, [cur] + list(src.inputs[1:]), [out],
                          dict(src.options, padding="VALID"), attrs, list(src.merged)))
            cur = out
        last = windows[-1]
        ops.append(Op(layers[-1].op.index, "TE_PLACE", [cur], [y_full.id],
                      attrs={"window": (last.out_rows[0], last.out_cols[0]), "patch": pi}))
    # the stage input dies with the last crop unless something else reads it
    users = [op for op in g.ops[spec.split + 1:] if any(g.storage_of(i) == g.storage_of(x_full.id)
                                                         for i in op.inputs if i >= 0)]
    if not users and x_full.id not in g.outputs and not any(g.storage_of(o) == g.storage_of(x_full.id)
                                                             for o in g.outputs):
        first_place = next(op for op in ops if op.type == "TE_PLACE")
        first_place.attrs["overlap"] = {"input": x_full.id, "output": y_full.id,
                                        "distance": _stage_overlap(g, x_full, y_full, patches)}
    dropped = {layer.op.outputs[0] for layer in layers[:-1]}
    for tid in dropped:
        del g.tensors[tid]
    g.ops = ops + g.ops[spec.split + 1:]
    return g


def stage_summary(g: Graph) -> dict | None:
    """What a patched graph's stage looks like (for reports), or None if not patched."""
    patch_ops = [(pos, op) for pos, op in enumerate(g.ops) if "patch" in op.attrs]
    if not patch_ops:
        return None
    n = max(op.attrs["patch"] for _, op in patch_ops) + 1
    return {"patches": n, "first_op": patch_ops[0][0], "last_op": patch_ops[-1][0],
            "ops_per_patch": len(patch_ops) // n}
