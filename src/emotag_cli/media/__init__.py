"""Decoding and encoding of video and audio through the ffmpeg libraries (PyAV)."""
