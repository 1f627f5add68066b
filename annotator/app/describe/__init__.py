"""Describing a project: zero-shot labels and captions of object tracks and the clip.

kinds.py names the insight kinds, steps.py holds the steps that write them, runs.py combines
the steps into one run and a Job. The models themselves (CLIP, BLIP) are in
annotator/engines/describe.py; which device they run on is app/engines.py's choice.
"""
