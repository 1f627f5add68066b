"""Which system package holds each shared library that Qt's window plugins need.

The PySide6 wheel bundles Qt itself, not the X11/Wayland, OpenGL and font libraries that the
xcb and Wayland platform plugins link against. This static table names the package for each of
those libraries (its soname) on Debian/Ubuntu (apt), Fedora (dnf) and Arch (pacman).
tests/test_preflight.py checks that it covers every library ``ldd`` lists for the plugins
outside the wheel; docs/install.md prints the same packages for people.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Distribution:
    key: str  # the column in PACKAGES
    name: str
    install: str  # the command, followed by the package names


DISTRIBUTIONS = (
    Distribution("apt", "Debian, Ubuntu", "sudo apt-get install"),
    Distribution("dnf", "Fedora", "sudo dnf install"),
    Distribution("pacman", "Arch", "sudo pacman -S --needed"),
)

# soname: (apt, dnf, pacman). Fedora and Arch ship the xcb "util" libraries in a few packages
# (xcb-util-wm holds both icccm and ewmh), and every core xcb extension in libxcb.
_GLVND_GLX = ("libglvnd-glx", "libglvnd")
PACKAGES: dict[str, tuple[str, str, str]] = {
    # the xcb plugin's own first-run failures (Qt 6.5+ needs xcb-cursor)
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    # core xcb and its extensions
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    # Xlib
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libXau.so.6": ("libxau6", "libXau", "libxau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    # Wayland
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland"),
    # OpenGL (glvnd)
    "libGL.so.1": ("libgl1", *_GLVND_GLX),
    "libGLX.so.0": ("libglx0", *_GLVND_GLX),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    # fonts, GLib, D-Bus and what they pull in
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libpng16.so.16": ("libpng16-16", "libpng", "libpng"),
    "libexpat.so.1": ("libexpat1", "expat", "expat"),
    "libbrotlidec.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libbrotlicommon.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libpcre2-8.so.0": ("libpcre2-8-0", "pcre2", "pcre2"),
    "libffi.so.8": ("libffi8", "libffi", "libffi"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libsystemd.so.0": ("libsystemd0", "systemd-libs", "systemd-libs"),
    "libcap.so.2": ("libcap2", "libcap", "libcap"),
    "libgcrypt.so.20": ("libgcrypt20", "libgcrypt", "libgcrypt"),
    "libgpg-error.so.0": ("libgpg-error0", "libgpg-error", "libgpg-error"),
    "liblzma.so.5": ("liblzma5", "xz-libs", "xz"),
    "liblz4.so.1": ("liblz4-1", "lz4-libs", "lz4"),
    "libzstd.so.1": ("libzstd1", "libzstd", "zstd"),
    "libz.so.1": ("zlib1g", "zlib", "zlib"),
    "libbsd.so.0": ("libbsd0", "libbsd", "libbsd"),
    "libmd.so.0": ("libmd0", "libmd", "libmd"),
    # the C and C++ runtimes (present on every desktop; listed so the table is complete)
    "libstdc++.so.6": ("libstdc++6", "libstdc++", "gcc-libs"),
    "libgcc_s.so.1": ("libgcc-s1", "libgcc", "gcc-libs"),
    "libc.so.6": ("libc6", "glibc", "glibc"),
    "libm.so.6": ("libc6", "glibc", "glibc"),
    "libpthread.so.0": ("libc6", "glibc", "glibc"),
    "libdl.so.2": ("libc6", "glibc", "glibc"),
    "librt.so.1": ("libc6", "glibc", "glibc"),
    "ld-linux-x86-64.so.2": ("libc6", "glibc", "glibc"),
    "ld-linux-aarch64.so.1": ("libc6", "glibc", "glibc"),
}

# What docs/install.md tells people to install up front for the window: the libraries that a
# minimal desktop or container image tends to lack (the rest come with any X11 or Wayland desktop).
WINDOW_LIBRARIES = (
    "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
    "libxcb-render-util.so.0", "libxcb-randr.so.0", "libxcb-shape.so.0", "libxcb-sync.so.1",
    "libxcb-xfixes.so.0", "libxcb-xinerama.so.0", "libxcb-xkb.so.1", "libxkbcommon-x11.so.0",
    "libX11-xcb.so.1", "libGL.so.1", "libEGL.so.1", "libfontconfig.so.1", "libdbus-1.so.3",
    "libwayland-cursor.so.0",
)


def packages_for(sonames: list[str], distribution: str) -> tuple[list[str], list[str]]:
    """(the packages to install, in first-seen order without repeats; the sonames not in the table)."""
    column = [d.key for d in DISTRIBUTIONS].index(distribution)
    packages: list[str] = []
    unknown: list[str] = []
    for soname in sonames:
        row = PACKAGES.get(soname)
        if row is None:
            unknown.append(soname)
        elif row[column] not in packages:
            packages.append(row[column])
    return packages, unknown
