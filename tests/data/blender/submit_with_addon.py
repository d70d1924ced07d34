"""Run inside Blender (`blender -b --factory-startup --python THIS -- ARGS.json`).

Installs the Corral add-on (a zip, or the single file with the library folder in
its preferences), saves a scene, sets the add-on's properties, reads the pools
from the dispatcher, invokes Render > Submit to Corral, and writes what happened
to the result file named in ARGS.json.
"""

import json
import sys

import addon_utils
import bpy

with open(sys.argv[sys.argv.index("--") + 1]) as handle:
    args = json.load(handle)
result = {}


def call(operator):
    """Run an operator; an ERROR report raises in scripts: its message, as CANCELLED."""
    try:
        return list(operator())
    except RuntimeError as exc:
        return ["CANCELLED", str(exc)]


bpy.ops.preferences.addon_install(filepath=args["addon"], overwrite=True)
addon_utils.enable("corral_submit", default_set=True, handle_error=None)
assert "corral_submit" in bpy.context.preferences.addons, "the add-on did not enable"
# Render > Submit to Corral: the add-on's entry is drawn in the Render menu.
result["menu"] = [
    getattr(draw, "__module__", "") for draw in bpy.types.TOPBAR_MT_render.draw._draw_funcs
]

prefs = bpy.context.preferences.addons["corral_submit"].preferences
prefs.dispatcher = args["dispatcher"]
prefs.token = args["token"]
prefs.library_path = args.get("library_path", "")
prefs.timeout_s = 10.0

scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 250
scene.render.filepath = args["output"] + "/shot_"
scene.render.image_settings.file_format = "PNG"

# Unsaved: the operator refuses, and nothing is submitted.
result["unsaved"] = call(bpy.ops.corral.submit)

bpy.ops.wm.save_as_mainfile(filepath=args["blend"])
settings = scene.corral
settings.title = args["title"]
settings.use_scene_range = False
settings.frame_start, settings.frame_end = args["frames"]
settings.chunk_size = args["chunk_size"]
settings.priority = args["priority"]
result["refresh"] = call(bpy.ops.corral.refresh_pools)
result["pools_listed"] = [pool.name for pool in settings.pools]
for pool in settings.pools:
    pool.use = pool.name in args["pools"]
result["submit"] = call(bpy.ops.corral.submit)
result["job_id"] = settings.last_job_id

with open(args["result"], "w") as handle:
    json.dump(result, handle)
