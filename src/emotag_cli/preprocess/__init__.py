"""``emotag preprocess``: a video becomes a scene (see emotag_cli.scene for the layout)."""
