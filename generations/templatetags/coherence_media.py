"""Template filters linking to media by record (generations.media.links), never to storage URLs."""

from __future__ import annotations

from django import template

from generations.media.links import scene_file_url, thumbnail_url, video_url
from generations.models import Generation, Scene

register = template.Library()


@register.filter
def generation_video_url(generation: Generation) -> str:
    return video_url(generation) or ""


@register.filter
def generation_thumbnail_url(generation: Generation) -> str:
    return thumbnail_url(generation) or ""


@register.filter
def scene_clip_url(scene: Scene) -> str:
    return scene_file_url(scene, "clip") or ""
