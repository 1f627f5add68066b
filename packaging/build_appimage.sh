#!/usr/bin/env bash
# Build Annotator-<version>-<variant>-x86_64.AppImage from the PyInstaller one-folder app.
#
#   packaging/build_appimage.sh [--skip-pyinstaller] [--appdir-only] [--out DIR] [--dist DIR] [--work DIR]
#
# Steps:
#   1. pyinstaller packaging/annotator.spec  -> dist/annotator/   (skipped with --skip-pyinstaller)
#   2. lay out build/Annotator.AppDir:
#        AppRun                                   runs usr/lib/annotator/annotator "$@"
#        annotator.desktop, annotator.png, .DirIcon   what appimagetool and desktops read
#        usr/lib/annotator/                       the one-folder app
#        usr/share/applications/annotator.desktop
#        usr/share/icons/hicolor/{256x256,scalable}/apps/annotator.{png,svg}
#   3. check the AppDir: AppRun --version and AppRun info on the sample (no display needed);
#   4. appimagetool AppDir -> OUT/Annotator-<version>-<variant>-x86_64.AppImage
#      (appimagetool on PATH, or APPIMAGETOOL=/path/to/appimagetool-x86_64.AppImage; offline, also
#      APPIMAGE_RUNTIME=/path/to/runtime-x86_64). Without appimagetool the script stops after
#      step 3, says so, and exits 3.
#
# The torch variant (cpu or cudaXY) is whatever the build environment has: see packaging/README.md.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$REPO/.venv/bin/python}"
DIST="$REPO/dist"
WORK="$REPO/build"
OUT="$REPO/dist"
RUN_PYINSTALLER=1
APPDIR_ONLY=0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --skip-pyinstaller) RUN_PYINSTALLER=0 ;;
        --appdir-only) APPDIR_ONLY=1 ;;
        --out) OUT="$2"; shift ;;
        --dist) DIST="$2"; shift ;;
        --work) WORK="$2"; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "build_appimage.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if [[ $RUN_PYINSTALLER == 1 ]]; then
    "$PY" -m PyInstaller "$REPO/packaging/annotator.spec" --noconfirm \
        --distpath "$DIST" --workpath "$WORK/pyinstaller"
fi
APP="$DIST/annotator"
[[ -x "$APP/annotator" ]] || { echo "no PyInstaller app at $APP (run without --skip-pyinstaller)" >&2; exit 1; }

INFO="$APP/_internal/annotator-build.json"
VERSION="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$INFO")"
VARIANT="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["variant"])' "$INFO")"
ARCH="$(uname -m)"

APPDIR="$WORK/Annotator.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/share/applications" \
         "$APPDIR/usr/share/icons/hicolor/256x256/apps" "$APPDIR/usr/share/icons/hicolor/scalable/apps"
cp -a "$APP" "$APPDIR/usr/lib/annotator"

cat > "$APPDIR/AppRun" <<'EOF'
#!/bin/sh
# The AppImage entry: the bundled `annotator` (the app with no arguments, the CLI with a command).
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/lib/annotator/annotator" "$@"
EOF
chmod +x "$APPDIR/AppRun"

# Inside the AppImage the launcher runs AppRun: Exec names the binary, without the -gui script.
sed -e 's/^Exec=.*/Exec=annotator %f/' -e '/^TryExec=/d' "$REPO/packaging/annotator.desktop" \
    > "$APPDIR/annotator.desktop"
echo "X-AppImage-Version=$VERSION" >> "$APPDIR/annotator.desktop"
cp "$APPDIR/annotator.desktop" "$APPDIR/usr/share/applications/annotator.desktop"
cp "$REPO/resources/annotator.png" "$APPDIR/annotator.png"
cp "$REPO/resources/annotator.png" "$APPDIR/usr/share/icons/hicolor/256x256/apps/annotator.png"
cp "$REPO/resources/annotator.svg" "$APPDIR/usr/share/icons/hicolor/scalable/apps/annotator.svg"
ln -sf annotator.png "$APPDIR/.DirIcon"

if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$APPDIR/annotator.desktop"
fi
echo "checking the AppDir ..."
"$APPDIR/AppRun" --version
"$APPDIR/AppRun" info "$REPO/resources/sample.mp4" --json > /dev/null
echo "AppDir ready: $APPDIR ($(du -sh "$APPDIR" | cut -f1))"

[[ $APPDIR_ONLY == 1 ]] && exit 0
TOOL="${APPIMAGETOOL:-$(command -v appimagetool || true)}"
if [[ -z "$TOOL" ]]; then
    cat >&2 <<EOF
appimagetool not found: the AppDir is ready, the AppImage was not made.
Get appimagetool-$ARCH.AppImage from https://github.com/AppImage/appimagetool/releases, then:
  APPIMAGETOOL=/path/to/appimagetool-$ARCH.AppImage $0 --skip-pyinstaller
EOF
    exit 3
fi
mkdir -p "$OUT"
TARGET="$OUT/Annotator-$VERSION-$VARIANT-$ARCH.AppImage"
# appimagetool fetches the AppImage runtime from GitHub unless it is given one: offline, set
# APPIMAGE_RUNTIME=/path/to/runtime-x86_64 (from https://github.com/AppImage/type2-runtime/releases).
RUNTIME_ARGS=()
[[ -n "${APPIMAGE_RUNTIME:-}" ]] && RUNTIME_ARGS=(--runtime-file "$APPIMAGE_RUNTIME")
# zstd: fast to unpack at every start; the payload is mostly shared libraries.
ARCH="$ARCH" "$TOOL" --comp zstd "${RUNTIME_ARGS[@]}" "$APPDIR" "$TARGET"
echo "wrote $TARGET ($(du -sh "$TARGET" | cut -f1))"
