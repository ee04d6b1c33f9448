"""FLAME-format head models: one interface (HeadModel + flame_forward) for FLAME and the open model."""

from .lbs import HeadPose, flame_forward, landmarks_from_vertices
from .loading import load_head_model
from .model import JOINTS, HeadModel

__all__ = ["JOINTS", "HeadModel", "HeadPose", "flame_forward", "landmarks_from_vertices", "load_head_model"]
