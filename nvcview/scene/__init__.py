"""Surfaces for 3D viewers and files: meshes, heat map, exports, headless rendering."""
