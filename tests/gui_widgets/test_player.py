"""Playback on the real sample: clock-driven, in order, with frames decoded ahead.

The figures (achieved fps, frames dropped, frames the view received) are printed, not
asserted: this machine's two cores are shared. The assertions are about order and state.
"""

from __future__ import annotations

import time

import pytest

from annotator.app.events import FrameChanged
from annotator.gui.player import MAX_RATE, Player
from annotator.gui.relay import FrameLoader


@pytest.fixture
def player(bridge, qtbot):
    p = Player(bridge)
    yield p
    p.pause()


def test_plays_the_sample_in_order_at_its_fps(session, bridge, player, qtbot):
    """~2 s of playback with a real view pipeline: every frame change is decoded on the I/O lane
    (Session.load_frame, as the canvas does) and delivered back to the UI thread."""
    shown: list[int] = []
    delivered: list[tuple[int, float]] = []
    loader = FrameLoader(session)
    loader.frame_ready.connect(lambda frame, _rgb: delivered.append((frame, time.monotonic())))

    def on_event(event: object) -> None:
        if isinstance(event, FrameChanged):
            shown.append(event.frame)
            loader.request(event.frame)

    bridge.event.connect(on_event)
    session.set_frame(10)
    shown.clear()
    with qtbot.waitSignal(player.playing_changed, timeout=2000) as started:
        player.play()
    assert started.args == [True] and player.is_playing
    target = 10 + int(2.0 * session.video.fps)
    qtbot.waitUntil(lambda: session.current_frame >= target, timeout=20_000)
    player.pause()
    assert not player.is_playing
    stats = player.stats()
    qtbot.waitUntil(lambda: not loader.busy(), timeout=10_000)

    assert shown == sorted(shown) and len(set(shown)) == len(shown)  # forward, never repeated
    assert shown[0] == 11 and stats["out_of_order"] == 0  # a slow first tick is late, not a skip
    assert stats["frames"] == len(shown)
    frames = [f for f, _ in delivered if f > 10]
    assert frames == sorted(frames)  # the view never went backwards
    cache = session.video.cache_stats()
    print(f"\nplayback {session.video.width}x{session.video.height} @ {session.video.fps:g} fps: "
          f"{stats['frames']} frames in {stats['elapsed_s']:.2f} s = {stats['fps']:.1f} fps "
          f"(target {stats['target_fps']:.1f}), dropped {stats['dropped']}, late {stats['late']}; "
          f"the view received "
          f"{len(frames)}/{len(shown)} frames; frame cache hits {cache['hits']}, misses {cache['misses']}")


def test_stops_at_the_end_and_plays_again_from_the_start(session, player, qtbot):
    last = session.frame_count - 1
    session.set_frame(last - 3)
    player.set_speed(4.0)
    with qtbot.waitSignal(player.playing_changed, timeout=10_000,
                          check_params_cb=lambda playing: not playing):
        player.play()
    assert session.current_frame == last and not player.is_playing
    player.play()  # at the end: start over
    assert player.is_playing
    assert session.current_frame == 0 or player.stats()["first"] == 0
    player.pause()


def test_fast_speeds_show_every_nth_frame_by_plan(session, player, qtbot):
    seen: list[int] = []
    player.bridge.event.connect(lambda e: seen.append(e.frame) if isinstance(e, FrameChanged) else None)
    player.set_speed(4.0)
    stride = player.stride
    assert stride == -(-int(session.video.fps * 4) // int(MAX_RATE))  # 100 fps -> every 2nd frame
    session.set_frame(0)
    seen.clear()
    player.play()
    qtbot.waitUntil(lambda: session.current_frame >= 40, timeout=20_000)
    player.pause()
    steps = {b - a for a, b in zip(seen, seen[1:])}
    assert min(steps) >= stride  # never slower than planned; bigger steps are counted as dropped
    assert player.stats()["dropped"] == sum(s - stride for s in (b - a for a, b in zip(seen, seen[1:])))


def test_speed_step_and_toggle(session, player, qtbot):
    changes: list[float] = []
    player.speed_changed.connect(changes.append)
    player.set_speed(9)
    player.set_speed(0.1)
    assert changes == [4.0, 0.25]
    player.faster()
    assert player.speed == 0.5
    player.slower()
    player.slower()
    assert player.speed == 0.25
    session.set_frame(50)
    player.toggle()
    assert player.is_playing
    player.step(-5)  # stepping pauses first
    assert not player.is_playing and session.current_frame == 45
    player.step(3)
    assert session.current_frame == 48


def test_scrubbing_while_playing_continues_from_there(session, player, qtbot):
    session.set_frame(0)
    player.play()
    qtbot.waitUntil(lambda: session.current_frame >= 2, timeout=10_000)
    session.set_frame(70)  # the user jumps
    qtbot.waitUntil(lambda: session.current_frame >= 72, timeout=10_000)
    assert player.is_playing
    player.pause()
    assert 72 <= session.current_frame < 99


def test_closing_the_project_stops_playback(session, player, qtbot):
    player.play()
    assert player.is_playing
    with qtbot.waitSignal(player.playing_changed, timeout=5000):
        session.close()
    assert not player.is_playing
    player.play()  # nothing open: ignored
    assert not player.is_playing
