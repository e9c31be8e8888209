"""A skill's folder as uploaded: validated paths, bounded sizes, and its SKILL.md front matter.

A folder arrives as multipart parts whose filenames are paths (`my-skill/SKILL.md`,
`my-skill/scripts/run.py`) or as one zip of that folder. Every path is normalised and
checked before anything is stored: absolute paths, `..`, links and files outside the one
top-level directory are refused, as are too many or too large files. Nothing here runs
a skill's contents.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml  # type: ignore[import-untyped]

from antiphon.errors import InvalidRequest, RequestTooLarge

MAX_FILES = 500
MAX_TOTAL_BYTES = 30 * 1024 * 1024
SKILL_FILE = "SKILL.md"
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class SkillBundle:
    """A validated folder: `directory` is its top-level name; paths are relative to it."""

    directory: str
    files: dict[str, bytes]
    name: str
    description: str

    def zip_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in sorted(self.files.items()):
                archive.writestr(f"{self.directory}/{path}", data)
        return out.getvalue()


def clean_path(raw: str) -> PurePosixPath:
    path = raw.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise InvalidRequest(f"files: {raw!r} is an absolute path; send paths relative to the skill folder")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidRequest(f"files: {raw!r} leaves the skill folder (`..` is not allowed)")
    if not parts:
        raise InvalidRequest(f"files: {raw!r} is not a file path")
    return PurePosixPath(*parts)


def from_parts(parts: list[tuple[str, bytes]]) -> SkillBundle:
    """The folder from multipart files; a single zip is read as the folder it holds."""
    if not parts:
        raise InvalidRequest("files: required; send the skill folder's files (or one zip of it)")
    if len(parts) == 1 and parts[0][1].startswith(b"PK\x03\x04"):
        return _bundle(_unzip(parts[0][1]))
    return _bundle([(clean_path(name), data) for name, data in parts])


def _unzip(data: bytes) -> list[tuple[PurePosixPath, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > MAX_FILES:
            raise InvalidRequest(f"files: a skill may have at most {MAX_FILES} files")
        if sum(info.file_size for info in entries) > MAX_TOTAL_BYTES:  # before inflating anything
            raise RequestTooLarge(f"files: a skill may hold at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB")
        found = []
        for info in entries:
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InvalidRequest(f"files: {info.filename!r} is a link; links are not allowed")
            found.append((clean_path(info.filename), archive.read(info)))
        return found
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as error:
        raise InvalidRequest(f"files: the zip archive is corrupt or unsupported: {error}") from None


def _bundle(files: list[tuple[PurePosixPath, bytes]]) -> SkillBundle:
    if len(files) > MAX_FILES:
        raise InvalidRequest(f"files: a skill may have at most {MAX_FILES} files")
    if sum(len(data) for _, data in files) > MAX_TOTAL_BYTES:
        raise RequestTooLarge(f"files: a skill may hold at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB")
    tops = {path.parts[0] for path, _ in files}
    if len(tops) != 1 or any(len(path.parts) < 2 for path, _ in files):
        raise InvalidRequest("files: all files must be inside one top-level folder (my-skill/SKILL.md, …)")
    directory = tops.pop()
    relative: dict[str, bytes] = {}
    for path, data in files:
        inner = str(PurePosixPath(*path.parts[1:]))
        if inner in relative:
            raise InvalidRequest(f"files: {directory}/{inner} was sent twice")
        relative[inner] = data
    if SKILL_FILE not in relative:
        raise InvalidRequest(f"files: {directory}/{SKILL_FILE} is required at the top of the folder")
    name, description = front_matter(relative[SKILL_FILE])
    return SkillBundle(directory, relative, name, description)


def front_matter(skill_md: bytes) -> tuple[str, str]:
    """`name` and `description` from SKILL.md's YAML front matter."""
    try:
        text = skill_md.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{SKILL_FILE}: not UTF-8 text") from None
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise InvalidRequest(f"{SKILL_FILE}: must begin with YAML front matter between `---` lines")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise InvalidRequest(f"{SKILL_FILE}: front matter is not valid YAML: {error}") from None
    if not isinstance(meta, dict):
        raise InvalidRequest(f"{SKILL_FILE}: front matter must be a mapping with name and description")
    name, description = meta.get("name"), meta.get("description")
    if not isinstance(name, str) or not _SLUG.match(name) or len(name) > 64:
        raise InvalidRequest(f"{SKILL_FILE}: `name` must be lowercase letters, digits and hyphens (at most 64), got {name!r}")
    if not isinstance(description, str) or not description.strip() or len(description) > 1024:
        raise InvalidRequest(f"{SKILL_FILE}: `description` must be non-empty text of at most 1024 characters")
    return name, description.strip()
