"""Upper-face action units: geometric estimates from landmarks, OpenFace CSV import, py-feat.

The public entry point is ``emotag_cli.preprocess.action_units``.
"""
