"""The admin's forms: the seed lookup, a create with uploaded start images, re-render one scene."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

from coherence_project.conf import config
from generations.models import SEED_MAX
from generations.services.reproduce import KEEP_SEED
from generations.services.request import GenerationRequest


class SeedLookupForm(forms.Form):
    seed = forms.IntegerField(
        min_value=0,
        max_value=SEED_MAX,
        label="Seed",
        error_messages={"invalid": f"A seed is a whole number from 0 to {SEED_MAX}."},
    )


_SCENE_FILE = re.compile(r"^scene-(\d+)\.", re.IGNORECASE)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class CreateWithImagesForm(forms.Form):
    """The plan as JSON (as the API takes it) plus start images as uploaded files."""

    title = forms.CharField(max_length=200, required=False)
    provider = forms.CharField(required=False, help_text="local or replicate")
    model = forms.CharField(required=False, help_text="e.g. wan-video/wan-2.2-i2v-fast")
    scenes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text='JSON list: [{"prompt": "...", "duration": 5, "continuous": false}, ...]',
    )
    reference_image = forms.FileField(
        required=False, help_text="Start image of every chain head without its own."
    )
    scene_images = MultipleFileField(
        required=False,
        widget=MultipleFileInput(),
        help_text="Start images of single scenes, named scene-N.png/.jpg/.webp (N from 1).",
    )

    def clean_scenes(self) -> Any:
        try:
            return json.loads(self.cleaned_data["scenes"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        scenes = cleaned.get("scenes")
        for upload in cleaned.get("scene_images") or []:
            match = _SCENE_FILE.match(upload.name)
            index = int(match.group(1)) - 1 if match else -1
            if not isinstance(scenes, list) or not 0 <= index < len(scenes):
                self.add_error("scene_images", f"{upload.name}: name it scene-N for a scene N.")
            elif isinstance(scenes[index], dict):
                scenes[index] = {**scenes[index], "image": upload}
        return cleaned

    def generation_request(self) -> GenerationRequest:
        data = self.cleaned_data
        return GenerationRequest(
            scenes=data["scenes"],
            title=data["title"],
            provider=data["provider"] or None,
            model=data["model"] or None,
            reference_image=data["reference_image"],
        )


class RerenderSceneForm(forms.Form):
    scene = forms.IntegerField(min_value=1, label="Scene number", help_text="Counted from 1.")
    prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Empty: the same."
    )
    duration = forms.FloatField(
        required=False,
        min_value=config.MIN_SCENE_SECONDS,
        max_value=config.MAX_SCENE_SECONDS,
        help_text="Seconds. Empty: the same.",
    )
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Empty: the generation's seed."
    )
    new_seed = forms.BooleanField(required=False, label="A fresh seed for this scene")

    def seed_choice(self) -> Any:
        if self.cleaned_data["new_seed"]:
            return None
        seed = self.cleaned_data["seed"]
        return KEEP_SEED if seed is None else seed
