"""Builds a tiny animated Blender scene for the pipeline example, inside Blender:

    blender -b --factory-startup --python make_scene.py -- scene.blend [FRAMES]

A cube slides across a 64x48 Cycles frame (4 samples, no denoising: not every
Blender build has OpenImageDenoise), frames 1..FRAMES (default 8).
"""

import sys

import bpy

arguments = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
if not arguments:
    raise SystemExit(
        "usage: blender -b --factory-startup --python make_scene.py -- OUT.blend [FRAMES]"
    )
path = arguments[0]
frames = int(arguments[1]) if len(arguments) > 1 else 8

scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.cycles.use_denoising = False
scene.cycles.use_adaptive_sampling = False
for layer in scene.view_layers:
    layer.cycles.use_denoising = False
scene.render.resolution_x = 64
scene.render.resolution_y = 48
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "PNG"
scene.frame_start = 1
scene.frame_end = frames

cube = bpy.data.objects["Cube"]
cube.location = (-2.0, 0.0, 0.0)
cube.keyframe_insert("location", frame=1)
cube.location = (2.0, 0.0, 0.0)
cube.keyframe_insert("location", frame=frames)

bpy.ops.wm.save_as_mainfile(filepath=path)
print("scene saved to " + path)
