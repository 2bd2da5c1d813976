"""Precision in the core: the CPU's int8 instructions, which precision a bundle serves at, and
loading a bundle at an explicit precision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from vae_core import bundle
from vae_core.calibration import ANOMALY, read_validation, write_calibration
from vae_core.errors import BundleInvalid
from vae_core.graphs import load_autoencoder
from vae_core.precision import (
    INT8_FILES,
    CpuFeatures,
    Int8Record,
    choose_precision,
    cpu_features,
    parse_cpuinfo,
)

pytestmark = pytest.mark.unit

SHIPPED = MODELS_DIR / "fashion-vae-2d"
# The first processor of /proc/cpuinfo on three machines (abridged): the flags decide the tier.
ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx fma avx2 bmi2 sha_ni vaes

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse avx512_vnni
"""
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
GRAVITON = (
    "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 asimddp i8mm\nCPU part\t: 0xd40\n"
)
OLD = "model name\t: Intel Core 2\nflags\t\t: fpu sse sse2 ssse3\n"


def _record(**changes: object) -> Int8Record:
    """The shipped bundle's int8 record, with some fields changed."""
    record = bundle.read_manifest(SHIPPED).int8
    assert record is not None, "the shipped bundles carry int8 graphs (make quantize-shipped)"
    return record.model_copy(update=changes)


def _cpu(text: str) -> CpuFeatures:
    return parse_cpuinfo(text)


def test_cpuinfo_gives_the_first_processors_model_and_int8_flags() -> None:
    zen3 = _cpu(ZEN3)
    assert zen3.model == "AMD EPYC 7B13"
    assert zen3.int8_flags == ["avx2"]  # the second processor's avx512_vnni is not this one's
    assert zen3.tier == "simd"
    assert _cpu(ZEN4).int8_flags == ["avx2", "avx512_vnni", "avx512bw"]
    assert _cpu(ZEN4).tier == "dot_product"
    assert _cpu(GRAVITON).tier == "dot_product" and _cpu(GRAVITON).model == "0xd40"
    assert _cpu(OLD).tier == "none" and _cpu(OLD).int8_flags == []


def test_this_machines_cpu_is_read_from_proc(tmp_path: Path) -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        assert cpu_features() == parse_cpuinfo(cpuinfo.read_text())
    unreadable = cpu_features(tmp_path / "no-cpuinfo")
    assert unreadable.int8_flags == [] and unreadable.tier == "none"


def test_fp32_is_served_when_asked_or_when_the_bundle_has_no_int8_graphs() -> None:
    assert choose_precision("fp32", _record(), _cpu(ZEN4)).precision == "fp32"
    for asked in ("auto", "int8"):
        choice = choose_precision(asked, None, _cpu(ZEN4))  # type: ignore[arg-type]
        assert choice.precision == "fp32"
        assert "no int8 graphs" in choice.reason


def test_int8_is_served_when_asked_whatever_the_cpu() -> None:
    choice = choose_precision("int8", _record(recommended=False), _cpu(OLD))
    assert choice.precision == "int8" and choice.reason == "int8 was asked for"


def test_auto_follows_the_bundle_where_the_cpu_has_the_instructions_it_was_measured_with() -> None:
    measured_with_vnni = _record(recommended=True, measured_on=_cpu(ZEN4))
    assert choose_precision("auto", measured_with_vnni, _cpu(ZEN4)).precision == "int8"
    assert choose_precision("auto", measured_with_vnni, _cpu(GRAVITON)).precision == "int8"
    fallback = choose_precision("auto", measured_with_vnni, _cpu(ZEN3))
    assert fallback.precision == "fp32"
    assert "AMD EPYC 7B13 (avx2)" in fallback.reason and "avx512_vnni" in fallback.reason
    measured_with_avx2 = _record(recommended=True, measured_on=_cpu(ZEN3))
    assert choose_precision("auto", measured_with_avx2, _cpu(ZEN4)).precision == "int8"
    assert choose_precision("auto", measured_with_avx2, _cpu(OLD)).precision == "fp32"


def test_auto_serves_fp32_when_the_bundle_does_not_recommend_int8() -> None:
    choice = choose_precision("auto", _record(recommended=False), _cpu(ZEN4))
    assert choice.precision == "fp32" and "does not recommend int8" in choice.reason


def test_a_bundle_loads_at_an_explicit_precision() -> None:
    fp32 = load_autoencoder(SHIPPED)
    int8 = load_autoencoder(SHIPPED, precision="int8")
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    assert int8.decoder.path.name == INT8_FILES["decoder"] and int8.decoder.name == "decoder"
    assert fp32.decoder.path.name == bundle.DECODER
    z = np.random.default_rng(0).standard_normal((8, fp32.latent_dim)).astype(np.float32)
    difference = np.abs(int8.decode(z) - fp32.decode(z))
    assert 0 < difference.max() < 0.5  # another graph, the same images


def test_int8_needs_the_bundles_int8_graphs(tmp_path: Path) -> None:
    copy = tmp_path / "fp32-only"
    shutil.copytree(SHIPPED, copy)
    strip_int8(copy)
    assert bundle.read_manifest(copy).precisions == ["fp32"]
    with pytest.raises(BundleInvalid, match="no int8 graphs"):
        load_autoencoder(copy, precision="int8")


def test_the_int8_graphs_are_checksummed_like_every_bundle_file(tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    shutil.copytree(SHIPPED, copy)
    manifest = bundle.read_manifest(copy)
    assert manifest.int8 is not None
    assert {graph.file for graph in manifest.int8.graphs.values()} <= set(manifest.files)
    (copy / INT8_FILES["decoder"]).write_bytes(b"not a graph")
    with pytest.raises(BundleInvalid, match=r"decoder\.int8\.onnx: sha256"):
        bundle.read_bundle(copy)
    (copy / INT8_FILES["decoder"]).unlink()
    with pytest.raises(BundleInvalid, match=r"decoder\.int8\.onnx: missing"):
        bundle.read_bundle(copy)


def strip_int8(target: Path) -> None:
    """Take a bundle's int8 graphs, their record and its calibration at int8 out of it."""
    for file in INT8_FILES.values():
        (target / file).unlink(missing_ok=True)
    fields = json.loads((target / bundle.MANIFEST).read_text())
    fields["int8"] = None
    if fields.get("anomaly") is not None:
        fields["anomaly"]["precisions"] = ["fp32"]
        arrays = read_validation(target / ANOMALY)
        fp32 = {name: arrays[name] for name in arrays if "/" not in name}
        write_calibration(target / ANOMALY, {"fp32": fp32})  # type: ignore[dict-item]
    fields["files"] = bundle.checksums(target)
    (target / bundle.MANIFEST).write_text(json.dumps(fields))
