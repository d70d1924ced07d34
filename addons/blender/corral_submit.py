"""Blender add-on: Render > Submit to Corral.

Saves the .blend file and submits it to a Corral dispatcher as a job of the
bundled ``blender`` template: the frame range (the scene's or another), frames
per chunk, priority, and pools chosen from the dispatcher's list.

Install either form with Edit > Preferences > Add-ons > Install:

- ``corral_submit.zip`` (``make blender-addon``): the add-on with the
  ``corral_client`` library inside it; nothing else to set up;
- this file alone: it then finds ``corral_client`` on Blender's ``sys.path``
  (e.g. ``PYTHONPATH``), in the add-on preferences' "Client library folder",
  or in the folder named by ``CORRAL_CLIENT_PATH``.

The dispatcher and the token come from the add-on preferences, else as the
``corral`` command finds them (``CORRAL_DISPATCHER``, ``CORRAL_TOKEN``,
``~/.config/corral/token``). docs/submitting.md documents it.
"""

import importlib
import os
import sys
import time

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

bl_info = {
    "name": "Corral render farm submitter",
    "author": "Corral",
    "version": (1, 0, 0),
    "blender": (2, 93, 0),
    "location": "Render > Submit to Corral; Properties > Render > Corral",
    "description": "Submit the saved scene to a Corral render farm",
    "category": "Render",
}

TEMPLATE = "blender"
LIBRARY_ENV = "CORRAL_CLIENT_PATH"
# The blender template's image formats (its BLENDFORMAT item); others keep the scene's.
FORMATS = ("PNG", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "JPEG", "TIFF")


def load_library(folder=""):
    """The ``corral_client`` module: bundled beside this add-on, importable, or in ``folder``."""
    try:
        return importlib.import_module(".corral_client", __package__ or "")
    except (ImportError, TypeError, ValueError):
        pass  # a single-file install has no package to hold the library
    try:
        return importlib.import_module("corral_client")
    except ImportError:
        pass
    for candidate in (folder, os.environ.get(LIBRARY_ENV, "")):
        candidate = bpy.path.abspath(candidate) if candidate else ""
        if candidate and os.path.isfile(os.path.join(candidate, "corral_client", "__init__.py")):
            if candidate not in sys.path:
                sys.path.insert(0, candidate)
            return importlib.import_module("corral_client")
    raise RuntimeError(
        "the corral_client library was not found: install corral_submit.zip, or set the "
        "add-on's 'Client library folder' or %s to the folder holding corral_client" % LIBRARY_ENV
    )


def preferences(context):
    return context.preferences.addons[__name__].preferences


def make_client(context):
    prefs = preferences(context)
    library = load_library(prefs.library_path)
    client = library.Client(
        dispatcher=prefs.dispatcher or None,
        token=prefs.token or None,
        timeout_s=prefs.timeout_s,
    )
    return library, client


def output_of(scene):
    """The output folder and file name prefix from the scene's output path."""
    path = bpy.path.abspath(scene.render.filepath or "//render/")
    folder, prefix = os.path.split(path)
    prefix = prefix.rstrip("#")
    return folder, prefix or "frame_"


def build_job(library, context):
    """The job the dialog describes, for ``Client.submit``."""
    scene = context.scene
    settings = scene.corral
    if settings.use_scene_range:
        start, end = scene.frame_start, scene.frame_end
    else:
        start, end = settings.frame_start, settings.frame_end
    if end < start:
        raise ValueError("the last frame %d is before the first %d" % (end, start))
    folder, prefix = output_of(scene)
    file_format = scene.render.image_settings.file_format
    blend = bpy.data.filepath
    title = settings.title.strip() or "%s %s" % (
        bpy.path.display_name_from_filepath(blend),
        time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    fields = {}
    if scene.frame_step != 1:
        fields["by"] = scene.frame_step
    if settings.paused:
        fields["paused"] = True
    return library.make_job(
        title,
        TEMPLATE,
        start,
        end,
        chunk_size=settings.chunk_size,
        priority=settings.priority,
        pools=[pool.name for pool in settings.pools if pool.use],
        data={
            "job_file": blend,
            "output_folder": folder,
            "output_prefix": prefix,
            "image_format": file_format if file_format in FORMATS else "scene",
            "render_engine": "scene",
            "scene_name": scene.name,
        },
        **fields,
    )


def refresh_pools(context):
    """Read the pools from the dispatcher, keeping the ones already chosen."""
    _library, client = make_client(context)
    names = client.pool_names()
    pools = context.scene.corral.pools
    chosen = {pool.name for pool in pools if pool.use}
    pools.clear()
    for name in names:
        item = pools.add()
        item.name = name
        item.use = name in chosen
    return names


class CorralPool(bpy.types.PropertyGroup):
    name: StringProperty(name="Pool")
    use: BoolProperty(name="Use", description="Render only on nodes of the chosen pools")


class CorralSettings(bpy.types.PropertyGroup):
    title: StringProperty(name="Job title", description="Empty: the file name and the time")
    use_scene_range: BoolProperty(name="Scene frame range", default=True)
    frame_start: IntProperty(name="First frame", default=1)
    frame_end: IntProperty(name="Last frame", default=250)
    chunk_size: IntProperty(
        name="Chunk size", description="Frames per chunk", default=1, min=1, max=100000
    )
    priority: IntProperty(
        name="Priority", description="Higher runs first", default=50, min=0, max=65535
    )
    paused: BoolProperty(name="Submit paused", default=False)
    pools: CollectionProperty(type=CorralPool)
    last_job_id: IntProperty(name="Last job", default=0)


class CorralPreferences(bpy.types.AddonPreferences):
    bl_idname = __name__

    dispatcher: StringProperty(
        name="Dispatcher", description="host:port; empty: CORRAL_DISPATCHER or 127.0.0.1:9890"
    )
    token: StringProperty(
        name="Token",
        subtype="PASSWORD",
        description="An API token; empty: CORRAL_TOKEN or ~/.config/corral/token",
    )
    library_path: StringProperty(
        name="Client library folder",
        subtype="DIR_PATH",
        description="The folder holding corral_client, when it is not bundled",
    )
    timeout_s: FloatProperty(name="Timeout (s)", default=30.0, min=1.0, max=600.0)

    def draw(self, context):
        for name in ("dispatcher", "token", "library_path", "timeout_s"):
            self.layout.prop(self, name)


def draw_settings(layout, scene):
    settings = scene.corral
    layout.prop(settings, "title")
    layout.prop(settings, "use_scene_range")
    row = layout.row(align=True)
    row.enabled = not settings.use_scene_range
    row.prop(settings, "frame_start")
    row.prop(settings, "frame_end")
    layout.prop(settings, "chunk_size")
    layout.prop(settings, "priority")
    layout.prop(settings, "paused")
    box = layout.box()
    row = box.row()
    row.label(text="Pools")
    row.operator(CORRAL_OT_refresh_pools.bl_idname, text="", icon="FILE_REFRESH")
    if not settings.pools:
        box.label(text="Any node (refresh to list the pools)")
    for pool in settings.pools:
        box.prop(pool, "use", text=pool.name)


class CORRAL_OT_refresh_pools(bpy.types.Operator):
    """Read the pools from the dispatcher"""

    bl_idname = "corral.refresh_pools"
    bl_label = "Refresh Corral pools"

    def execute(self, context):
        try:
            names = refresh_pools(context)
        except Exception as exc:  # the library's ClientError, or no library
            self.report({"ERROR"}, "Corral: %s" % exc)
            return {"CANCELLED"}
        self.report({"INFO"}, "Corral: %d pool(s)" % len(names))
        return {"FINISHED"}


class CORRAL_OT_submit(bpy.types.Operator):
    """Save the scene and submit it to the Corral render farm"""

    bl_idname = "corral.submit"
    bl_label = "Submit to Corral"

    def invoke(self, context, event):
        try:
            refresh_pools(context)
        except Exception as exc:  # submitting without the list is still possible
            self.report({"WARNING"}, "Corral: cannot list the pools: %s" % exc)
        return context.window_manager.invoke_props_dialog(self, width=400)

    def draw(self, context):
        draw_settings(self.layout, context.scene)

    def execute(self, context):
        if not bpy.data.filepath:
            self.report({"ERROR"}, "Corral: save the .blend file first (the farm renders it)")
            return {"CANCELLED"}
        try:
            library, client = make_client(context)
            job = build_job(library, context)
            if bpy.data.is_dirty:
                bpy.ops.wm.save_mainfile()
            created = client.submit(job)
        except Exception as exc:  # ClientError carries the dispatcher's detail and field
            self.report({"ERROR"}, "Corral: %s" % exc)
            return {"CANCELLED"}
        context.scene.corral.last_job_id = int(created["id"])
        self.report({"INFO"}, "Corral: job %s queued (%s)" % (created["id"], created["title"]))
        return {"FINISHED"}


class RENDER_PT_corral(bpy.types.Panel):
    bl_label = "Corral"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        draw_settings(self.layout, context.scene)
        self.layout.operator(CORRAL_OT_submit.bl_idname, icon="EXPORT")
        if context.scene.corral.last_job_id:
            self.layout.label(text="Last job: %d" % context.scene.corral.last_job_id)


def menu_entry(self, context):
    self.layout.separator()
    self.layout.operator(CORRAL_OT_submit.bl_idname, icon="EXPORT")


CLASSES = (
    CorralPool,
    CorralSettings,
    CorralPreferences,
    CORRAL_OT_refresh_pools,
    CORRAL_OT_submit,
    RENDER_PT_corral,
)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.corral = PointerProperty(type=CorralSettings)
    bpy.types.TOPBAR_MT_render.append(menu_entry)


def unregister():
    bpy.types.TOPBAR_MT_render.remove(menu_entry)
    del bpy.types.Scene.corral
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
