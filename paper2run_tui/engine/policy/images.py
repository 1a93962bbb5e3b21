"""Which base images a plan may start FROM: the planner's own families, the configured map, the user's list.

A base image is the one thing in a plan that makes the Docker daemon itself fetch something, so an image
outside this list is refused rather than flagged.
"""

from __future__ import annotations

import re

#: A Docker image reference: [registry[:port]/]name[/name…][:tag][@sha256:digest], nothing else (no spaces,
#: no `AS`, no `--platform`).
IMAGE_REFERENCE = re.compile(
    r"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::\d{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)

_HUB = r"(?:docker\.io/)?"
_DIGEST = r"(?:@sha256:[0-9a-f]{64})?"
_DEBIAN = r"(?:bookworm|bullseye|buster|trixie)"
#: The images the planner and the rules choose: the official python:X.Y[-slim] images on Docker Hub.
PYTHON_FAMILY = re.compile(
    rf"^{_HUB}(?:library/)?python:3\.\d{{1,2}}(?:\.\d{{1,2}})?(?:-slim(?:-{_DEBIAN})?|-{_DEBIAN})?{_DIGEST}$"
)
#: NVIDIA's official CUDA images on Docker Hub, for plans that need a GPU toolchain.
CUDA_FAMILY = re.compile(
    rf"^{_HUB}nvidia/cuda:\d{{1,2}}\.\d{{1,2}}(?:\.\d{{1,2}})?-(?:cudnn\d*-)?(?:base|runtime|devel)-"
    rf"(?:ubuntu\d{{2}}\.04|ubi\d|rockylinux\d){_DIGEST}$"
)


def is_image_reference(image: str) -> bool:
    return bool(IMAGE_REFERENCE.match(image))


def image_allowed(image: str, base_image_map: dict[str, str], allowed: list[str]) -> bool:
    """True for the planner's families, an image of the configured map, or one the user allows.

    A user entry ending in `*` allows every image starting with the rest (e.g. `mirror.local/python:*`).
    """
    if PYTHON_FAMILY.match(image) or CUDA_FAMILY.match(image) or image in base_image_map.values():
        return True
    for entry in allowed:
        entry = entry.strip()
        if entry.endswith("*") and len(entry) > 1 and image.startswith(entry[:-1]):
            return True
        if image == entry:
            return True
    return False
