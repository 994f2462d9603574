"""Image references in a stack file: a service's repository, its tag per colour, and the digest a
tag is pinned to, each checked on its own so an error names the key that is wrong.

A digest is written per tag (`digests: {"2.4.0": "sha256:..."}`), not per colour: a release that
moves a colour to a new tag can never run the old tag's digest under the new name, and a tag
without a digest runs by tag. The digest is what the registry answers for the pushed tag; azora
never computes or looks one up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from azora.config.base import Color

# A repository without a tag or digest: registry/path, lower case, no ':' after the last '/'.
IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The content digests registries serve (OCI image spec: sha256, and sha512 where registered).
IMAGE_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")

Problems = list[tuple[tuple[str | int, ...], str]]


def repository_problem(image: str) -> str | None:
    """Why `image` is not a bare repository, or None."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return f"must be a repository without tag or digest (versions go in `versions`), got {image!r}"
    if not IMAGE_REPOSITORY.match(image):
        return f"is not a valid image repository: {image!r}"
    return None


def tag_problems(versions: Mapping[Color, str]) -> Problems:
    """Each colour whose version is not an image tag."""
    return [
        ((color,), f"is not a valid image tag: {tag!r}") for color, tag in versions.items() if not IMAGE_TAG.match(tag)
    ]


def digest_problems(digests: Mapping[str, str]) -> Problems:
    """Each entry whose key is not an image tag or whose value is not a content digest."""
    problems: Problems = []
    for tag, digest in digests.items():
        if not IMAGE_TAG.match(tag):
            problems.append(((tag,), "is not a valid image tag (the keys are the tags in `versions`)"))
        elif not IMAGE_DIGEST.match(digest):
            shown = digest if len(digest) <= 80 else digest[:77] + "..."
            problems.append(((tag,), f"must be a digest such as sha256:<64 lower-case hex digits>, got {shown!r}"))
    return problems


def reference(image: str, tag: str, digest: str | None) -> str:
    """`image:tag`, or `image:tag@digest` when the tag is pinned (the runtime pulls by digest)."""
    return f"{image}:{tag}@{digest}" if digest else f"{image}:{tag}"
