"""The export in standard operators, what OpenVINO and int8 quantisation read (MindSpore's export
uses forms of them that those engines take badly)."""
from __future__ import annotations

from ..base.errors import BackendError

__all__ = ["standard_onnx"]


def standard_onnx(source, target) -> None:
    """Write ``source`` (MindSpore's ONNX export) as ``target`` in standard operators every engine
    reads: opset 13 (per-channel quantisation needs it), MaxPool's ``auto_pad=VALID`` written as zero
    pads and its default ``storage_order=0`` left out (with it, OpenVINO 2026's CPU plugin finds no bf16
    pooling kernel)."""
    try:
        import onnx
        from onnx import version_converter
    except ImportError as exc:
        raise BackendError("the onnx package is not installed (pip install onnx)") from exc
    model = onnx.load(str(source))
    if max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0) < 13:
        model = version_converter.convert_version(model, 13)
    for node in model.graph.node:
        if node.op_type != "MaxPool":
            continue
        for attribute in [a for a in node.attribute if a.name == "storage_order" and a.i == 0]:
            node.attribute.remove(attribute)  # the default, written out: OpenVINO then finds no bf16 kernel
        if any(a.name == "auto_pad" and a.s == b"VALID" for a in node.attribute):
            for attribute in [a for a in node.attribute if a.name in ("auto_pad", "pads")]:
                node.attribute.remove(attribute)
            node.attribute.append(onnx.helper.make_attribute("pads", [0, 0, 0, 0]))
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
