"""Support code for tests, benches and the sample video, outside the layered packages: the
simulated user (click_robot.py) and synthetic video with known masks (synthetic.py).
The application never imports it."""
