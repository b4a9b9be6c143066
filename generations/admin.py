from django.contrib import admin

from generations.models import Generation, Scene


class SceneInline(admin.TabularInline):
    model = Scene
    extra = 0
    fields = ("index", "prompt", "duration", "continuous", "status", "seed", "seed_applied")
    readonly_fields = fields
    can_delete = False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "progress", "seed_value", "model", "created_at")
    list_filter = ("status", "provider", "model")
    search_fields = ("title", "=seed_value")
    inlines = [SceneInline]
