"""Building the open head model from preprocessed scenes (``assemble.build_open_model``)."""
