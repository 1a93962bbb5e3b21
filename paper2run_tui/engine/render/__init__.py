"""Render: the Dockerfile (layered for cheap repairs), INSTRUCTIONS.md and report.md, from jinja2 templates."""

from .dockerfile import manifest_paths, render_dockerfile
from .documents import docker_commands, render_instructions, render_report

__all__ = ["docker_commands", "manifest_paths", "render_dockerfile", "render_instructions", "render_report"]
