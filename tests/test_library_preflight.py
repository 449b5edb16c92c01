"""The library refuses, before any line, what the command line's preflight refuses.

``consolidate_manifest`` is also called from Python (notebooks, the Dask engine's
users): a compressed manifest must not come out as one ``bad_json`` record per
line, and an output that is a folder must not be found after the whole run.
"""

from __future__ import annotations

import bz2
import gzip
import io
from pathlib import Path

import pytest

from gtconsensus.adapters import storage
from gtconsensus.adapters.manifest import consolidate_manifest
from gtconsensus.exceptions import OptionsError
from gtconsensus.testing.synthetic import make_manifest


def _manifest(tmp_path: Path) -> Path:
    path = tmp_path / "in.manifest"
    path.write_text(
        "".join(line + "\n" for line in make_manifest(5, 3, height=60, width=80)), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("compress", "kind"),
    [(gzip.compress, "gzip-compressed"), (bz2.compress, "bzip2-compressed"),
     (lambda data: data.decode().encode("utf-16"), "UTF-16 text")],
)  # fmt: skip
def test_a_compressed_or_utf16_input_is_refused_whole(tmp_path, compress, kind):
    source = _manifest(tmp_path)
    packed = tmp_path / "in.manifest.x"
    packed.write_bytes(compress(source.read_bytes()))
    out = tmp_path / "out.manifest"
    with pytest.raises(OptionsError, match=kind) as raised:
        consolidate_manifest(str(packed), str(out))
    assert raised.value.code == "bad_option"
    assert str(packed) in raised.value.message
    assert not out.exists()
    assert not (tmp_path / "out.manifest.errors.jsonl").exists()


def test_the_same_input_uncompressed_is_read(tmp_path):
    out = tmp_path / "out.manifest"
    summary = consolidate_manifest(str(_manifest(tmp_path)), str(out))
    assert summary.lines == 3
    assert summary.consolidated == 3
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_a_compressed_stream_on_standard_input_is_refused(tmp_path, monkeypatch):
    data = gzip.compress(_manifest(tmp_path).read_bytes())
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(OptionsError, match="gzip-compressed"):
        consolidate_manifest("-", str(tmp_path / "out.manifest"))


@pytest.mark.parametrize("method", ["image", "job"])
def test_an_output_or_error_file_that_is_a_folder_is_refused_before_any_line(
    tmp_path, monkeypatch, method
):
    from gtconsensus.adapters.manifest import ManifestOptions

    source = _manifest(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir()
    read: list[str] = []
    real_open = storage.open_read

    def spy(path: str):  # type: ignore[no-untyped-def]
        read.append(path)
        return real_open(path)

    monkeypatch.setattr("gtconsensus.adapters.manifest.open_read", spy)
    options = ManifestOptions(method=method)
    with pytest.raises(OptionsError, match="is a folder"):
        consolidate_manifest(str(source), str(folder), options=options)
    with pytest.raises(OptionsError, match=r"error file .* is a folder"):
        consolidate_manifest(
            str(source), str(tmp_path / "out.manifest"), errors_path=str(folder), options=options
        )
    assert read == []  # refused before the input was opened
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "out.manifest").exists()


def test_atomic_writer_refuses_a_folder_before_writing(tmp_path):
    with (
        pytest.raises(IsADirectoryError, match="is a folder"),
        storage.atomic_writer(str(tmp_path)),
    ):
        raise AssertionError("the block must not run")  # pragma: no cover
    assert list(tmp_path.iterdir()) == []


def _never(*args: object, **kwargs: object) -> object:
    raise AssertionError("the inputs were read")


def test_several_inputs_are_not_read_and_merged_before_a_folder_output_is_refused(
    tmp_path, monkeypatch
):
    from gtconsensus.adapters import merge

    (tmp_path / "b").mkdir()
    inputs = [str(_manifest(tmp_path)), str(_manifest(tmp_path / "b"))]
    folder = tmp_path / "folder"
    folder.mkdir()
    monkeypatch.setattr(merge, "merged_inputs", _never)  # reads and groups every input
    with pytest.raises(OptionsError, match=r"output .* is a folder") as caught:
        merge.consolidate_manifests(inputs, str(folder))
    with pytest.raises(OptionsError, match=r"error file .* is a folder"):
        merge.consolidate_manifests(inputs, str(tmp_path / "out"), errors_path=str(folder))
    assert caught.value.code == "bad_option"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("inputs", [1, 2])
def test_the_dask_engine_refuses_a_folder_output_before_reading(tmp_path, monkeypatch, inputs):
    pytest.importorskip("dask.bag")
    from gtconsensus.adapters import dask_engine

    paths = [str(_manifest(tmp_path))] * inputs
    folder = tmp_path / "folder"
    folder.mkdir()
    monkeypatch.setattr(dask_engine.db, "read_text", _never)
    monkeypatch.setattr(dask_engine, "merged_inputs", _never)
    with pytest.raises(OptionsError, match=r"output .* is a folder") as caught:
        dask_engine.consolidate_with_dask(paths, str(folder), scheduler=None)
    assert caught.value.code == "bad_option"
