"""A bundle's int8 graphs: what model.json records about them (`Int8Record`: the recipe, the
quality gate's figures, the speed-ups and the CPU they were measured on), the int8 instructions of
the CPU we run on, and which precision serves a bundle when none is asked for (`choose_precision`).

`python -m training quantize` writes the graphs and the record; see docs/precision.md.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from vae_core.frozen import Record
from vae_core.vocabulary import GraphName, Int8Tier, Precision, PrecisionSetting, SamplerName

FP32_FILES: dict[GraphName, str] = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
INT8_FILES: dict[GraphName, str] = {"encoder": "encoder.int8.onnx", "decoder": "decoder.int8.onnx"}
# CPU flags (Linux /proc/cpuinfo names) of each tier above "none", the best tier first.
TIER_FLAGS: tuple[tuple[Int8Tier, frozenset[str]], ...] = (
    ("dot_product", frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})),
    ("simd", frozenset({"avx2", "avx512bw", "asimd"})),
)
TIER_ORDER: tuple[Int8Tier, ...] = ("none", "simd", "dot_product")
CPUINFO = Path("/proc/cpuinfo")


class CpuFeatures(Record):
    """A CPU as int8 sees it: its model name, the int8 flags it has, and so its tier."""

    model: str
    int8_flags: list[str] = Field(description="The flags of TIER_FLAGS this CPU has, sorted.")

    @property
    def tier(self) -> Int8Tier:
        """The best tier whose flags this CPU has any of."""
        for tier, flags in TIER_FLAGS:
            if flags & set(self.int8_flags):
                return tier
        return "none"

    def describe(self) -> str:
        return f"{self.model} ({', '.join(self.int8_flags) or 'no int8 instructions'})"


class GateFigures(Record):
    """How an int8 graph's outputs compare with its fp32 graph's on held-out inputs: a decoder's
    images, or the fp32 decoder's images of an encoder's codes."""

    images: int = Field(ge=2, description="Images compared.")
    frechet_distance: float = Field(
        description="Fréchet distance between the feature network's features of the int8 and the "
        "fp32 images (paired: the same inputs)."
    )
    same_prediction: float = Field(
        description="Share of images the feature network classifies the same (for attributes: "
        "of image-attribute pairs predicted the same)."
    )
    pixel_difference_p999: float = Field(description="99.9th percentile of |int8 - fp32| pixels.")
    pixel_difference_max: float
    pixel_difference_mean: float
    batch_invariant: bool = Field(
        description="Every output is bit-identical whether its input runs alone or in a batch."
    )


class Timing(Record):
    """Median thread-CPU time of one run at `batch` rows, one thread, fp32 and int8 interleaved."""

    batch: int = Field(ge=1)
    fp32_ms: float = Field(gt=0)
    int8_ms: float = Field(gt=0)

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms


class Int8Graph(Record):
    """One int8 graph that passed the gate."""

    file: str
    fp32_nodes: list[str] = Field(
        description="Matrix products left in fp32 (quality needs them), by node name."
    )
    gate: GateFigures
    timings: list[Timing]


class Int8Recipe(Record):
    """How the int8 graphs were made."""

    rewrites: list[str] = Field(description="Exact rewrites applied before quantizing.")
    fp32_layers: str = Field(description="The layers left in fp32, and why.")
    weights: str
    activations: str
    calibration: str = Field(description="The inputs the activation ranges were measured on.")
    activation_percentile: float = Field(
        gt=50, le=100, description="Activation ranges: this percentile of |values| seen."
    )
    weight_bits: int = Field(ge=2, le=8)
    quantized_ops: dict[GraphName, list[str]] = Field(description="Op types quantized, per graph.")


class Int8Record(Record):
    """model.json's `int8`: the graphs written, how, how good and how fast, and on what CPU."""

    recipe: Int8Recipe
    gate: dict[str, float] = Field(description="The limits each graph met.")
    graphs: dict[GraphName, Int8Graph] = Field(
        description="The int8 graphs written; a graph missing here runs in fp32 at int8."
    )
    sampler_frechet_distances: dict[SamplerName, float] = Field(
        description="Each sampler's Fréchet distance to the test images, measured as export "
        "measures it (`samplers`) but through the int8 graphs."
    )
    samples_per_sampler: int = Field(ge=2, description="Codes drawn from each sampler for it.")
    measured_on: CpuFeatures
    recommended: bool = Field(
        description="Whether int8 measured faster than fp32 enough to serve it by default."
    )
    onnxruntime: str = Field(description="The ONNX Runtime version that measured it.")
    created_at: str

    def speedup(self) -> float:
        """The geometric mean of the int8 graphs' speed-ups over fp32, every batch size."""
        speedups = [t.speedup for graph in self.graphs.values() for t in graph.timings]
        return math.exp(sum(map(math.log, speedups)) / len(speedups)) if speedups else 1.0

    def files(self) -> dict[GraphName, str]:
        """Each graph's file at int8: fp32's where no int8 graph passed the gate."""
        return {name: self.graphs[name].file if name in self.graphs else FP32_FILES[name]
                for name in FP32_FILES}  # fmt: skip


@dataclass(frozen=True)
class PrecisionChoice:
    precision: Precision
    reason: str


def choose_precision(
    asked: PrecisionSetting, int8: Int8Record | None, cpu: CpuFeatures
) -> PrecisionChoice:
    """The precision a bundle serves at. `auto`: int8 where the bundle recommends it and this CPU
    has the int8 instructions of the CPU it was measured on, else fp32; `int8` on a bundle without
    int8 graphs serves fp32. The reason says why, for the log and the API."""
    if asked == "fp32":
        return PrecisionChoice("fp32", "fp32 was asked for")
    if int8 is None:
        return PrecisionChoice(
            "fp32", "the bundle has no int8 graphs (python -m training quantize)"
        )
    if asked == "int8":
        return PrecisionChoice("int8", "int8 was asked for")
    measured = f"int8 measured {int8.speedup():.2f}x fp32 on {int8.measured_on.describe()}"
    if not int8.recommended:
        return PrecisionChoice("fp32", f"the bundle does not recommend int8: {measured}")
    needed = int8.measured_on.tier
    if TIER_ORDER.index(cpu.tier) < TIER_ORDER.index(needed):
        flags = ", ".join(sorted(dict(TIER_FLAGS)[needed]))
        return PrecisionChoice(
            "fp32",
            f"the bundle recommends int8 ({measured}), but this CPU, {cpu.describe()}, has none "
            f"of the instructions that speed-up needs ({flags})",
        )
    return PrecisionChoice("int8", f"the bundle recommends int8 ({measured}); this CPU has them")


def cpu_features(cpuinfo: Path = CPUINFO) -> CpuFeatures:
    """This CPU's model and int8 flags, from /proc/cpuinfo (none where it cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return CpuFeatures(model=platform.processor() or platform.machine(), int8_flags=[])
    return parse_cpuinfo(text)


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The first processor's model name and int8 flags (`flags` on x86, `Features` on Arm)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    known = set().union(*(tier_flags for _, tier_flags in TIER_FLAGS))
    model = fields.get("model name") or fields.get("cpu part") or platform.machine()
    return CpuFeatures(model=model, int8_flags=sorted(flags & known))
