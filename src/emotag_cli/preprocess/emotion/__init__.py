"""Per-frame 7-class emotion distributions (the teacher of EmoTaG's Semantic Emotion Guidance)."""

from .teacher import (
    EMOTIONS,
    MODELS,
    NEUTRAL,
    EmotionTeacher,
    deepface_weights_path,
    emotion_teacher,
    status,
)

__all__ = ["EMOTIONS", "MODELS", "NEUTRAL", "EmotionTeacher", "deepface_weights_path",
           "emotion_teacher", "status"]
