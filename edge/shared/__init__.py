"""Modules the edge function shares with the app, imported as `edge.shared.<name>`.

Each is a symbolic link to its one source in chalicelib/core/ (stand-alone modules:
standard library and crawlerdetect only), so the repository keeps no second copy;
`python -m edge.build` copies their content into the zip under the same names. The
import contract "edge imports nothing from chalicelib" therefore also holds these
modules to it: one that imported chalicelib would break the edge build's zip.
"""
