"""FLAME-format head models: one interface (HeadModel + flame_forward) for FLAME and the open model."""

from .lbs import HeadPose, flame_forward, landmarks_from_vertices
from .model import JOINTS, HeadModel
from .registry import head_model_names, head_model_of, head_model_record, load_head_model, register_head_model

__all__ = ["JOINTS", "HeadModel", "HeadPose", "flame_forward", "head_model_names", "head_model_of",
           "head_model_record", "landmarks_from_vertices", "load_head_model", "register_head_model"]
