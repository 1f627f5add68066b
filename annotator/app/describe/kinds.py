"""The kinds of insight that describing writes into the store (see steps.py for their payloads)."""

OBJECT_LABELS = "labels"
SCENE_LABELS = "scene_labels"
OBJECT_CAPTION = "caption"
FRAME_CAPTION = "frame_caption"
SEGMENT_CAPTION = "segment_caption"
SHOTS = "shots"
CAPTION_KINDS = (OBJECT_CAPTION, FRAME_CAPTION, SEGMENT_CAPTION)
