"""Many videos, locally or on Ray: manifest.py (the jobs), runner.py (the loop and backends),
video.py (one video's work), ray_runner.py (the Ray backend)."""
