"""Compatibility shim: sample media now live in sensekit.samples."""

from sensekit.samples import fetch_all, media_dir, media_path  # noqa: F401
