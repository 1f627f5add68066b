"""The look: Fusion with a dark-neutral palette and a short style sheet.

One place for colours, so the canvas, the drawn icons and the widgets agree. The palette
is neutral grey (video colours must not be judged against a tinted frame) with one blue
accent for selection and focus; green and red are kept for positive and negative prompts.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

# Greys from darkest to lightest, and the accent colours.
CANVAS_BG = "#151619"
WINDOW = "#1f2023"
PANEL = "#26282c"
BASE = "#1b1c1f"
RAISED = "#2f3136"
BORDER = "#3a3d42"
TEXT = "#dcdee3"
TEXT_DIM = "#9a9ea6"
TEXT_FAINT = "#6b6f77"
ACCENT = "#4c8dff"
ACCENT_DIM = "#2d5aa8"
POSITIVE = "#35c46a"
NEGATIVE = "#ef4b4b"
WARNING = "#e8a33c"
ERROR = "#ef4b4b"

_STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {WINDOW}; }}
QToolTip {{ color: {TEXT}; background: {RAISED}; border: 1px solid {BORDER}; padding: 4px 6px; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {BORDER}; spacing: 2px;
           padding: 3px 6px; }}
QToolBar::separator {{ background: {BORDER}; width: 1px; margin: 5px 6px; }}
QToolButton {{ color: {TEXT}; background: transparent; border: 1px solid transparent; border-radius: 5px;
              padding: 4px; }}
QToolButton:hover {{ background: {RAISED}; border-color: {BORDER}; }}
QToolButton:checked {{ background: {ACCENT_DIM}; border-color: {ACCENT}; }}
QToolButton:pressed {{ background: {BORDER}; }}
QToolButton:disabled {{ color: {TEXT_FAINT}; }}
QDockWidget {{ color: {TEXT_DIM}; titlebar-close-icon: none; }}
QDockWidget::title {{ background: {PANEL}; padding: 6px 8px; border-bottom: 1px solid {BORDER};
                      text-align: left; }}
QStatusBar {{ background: {PANEL}; color: {TEXT_DIM}; border-top: 1px solid {BORDER}; }}
QStatusBar::item {{ border: none; }}
QStatusBar QLabel {{ color: {TEXT_DIM}; padding: 0 6px; }}
QMenuBar {{ background: {PANEL}; color: {TEXT}; border-bottom: 1px solid {BORDER}; }}
QMenuBar::item {{ padding: 4px 10px; background: transparent; }}
QMenuBar::item:selected {{ background: {RAISED}; border-radius: 4px; }}
QMenu {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QMenu::item {{ padding: 5px 24px 5px 22px; border-radius: 4px; }}
QMenu::item:selected {{ background: {ACCENT_DIM}; }}
QMenu::item:disabled {{ color: {TEXT_FAINT}; }}
QMenu::separator {{ height: 1px; background: {BORDER}; margin: 4px 8px; }}
QProgressBar {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; color: {TEXT};
               text-align: center; min-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QPushButton {{ color: {TEXT}; background: {RAISED}; border: 1px solid {BORDER}; border-radius: 5px;
              padding: 5px 14px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: {BORDER}; }}
QPushButton:default {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: {TEXT_FAINT}; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:hover {{ background: #5f9bff; }}
QPushButton#link {{ background: transparent; border: none; color: {ACCENT}; padding: 0 4px; }}
QPushButton#link:hover {{ text-decoration: underline; }}
QLineEdit, QKeySequenceEdit, QSpinBox, QComboBox {{ background: {BASE}; color: {TEXT};
    border: 1px solid {BORDER}; border-radius: 4px; padding: 3px 6px;
    selection-background-color: {ACCENT_DIM}; }}
QLineEdit:focus, QSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QTableView, QTreeView, QListView {{ background: {BASE}; alternate-background-color: {PANEL};
    border: 1px solid {BORDER}; border-radius: 4px; gridline-color: {BORDER}; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT_DIM}; border: none;
                        border-bottom: 1px solid {BORDER}; padding: 4px 6px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0; }}
QScrollBar::handle {{ background: {BORDER}; border-radius: 4px; min-height: 24px; min-width: 24px; }}
QScrollBar::handle:hover {{ background: {TEXT_FAINT}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QGraphicsView {{ background: {CANVAS_BG}; border: none; }}
QFrame#noticeBar {{ background: #3a3020; border-bottom: 1px solid #5a4828; }}
QFrame#noticeBar[level="error"] {{ background: #3d2224; border-bottom: 1px solid #6a3034; }}
QFrame#noticeBar[level="info"] {{ background: #1f2c40; border-bottom: 1px solid #2d4668; }}
QFrame#propagationBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
QLabel#welcomeTitle {{ color: {TEXT}; font-size: 22pt; font-weight: 300; }}
QLabel#welcomeSubtitle {{ color: {TEXT_DIM}; font-size: 11pt; }}
QLabel#sectionTitle {{ color: {TEXT_DIM}; font-weight: 600; text-transform: uppercase; }}
QLabel#hint {{ color: {TEXT_FAINT}; }}
QFrame#dropZone {{ border: 2px dashed {BORDER}; border-radius: 12px; background: {BASE}; }}
QFrame#dropZone[active="true"] {{ border-color: {ACCENT}; background: #1c2535; }}
QListWidget#recentList {{ background: transparent; border: none; }}
QListWidget#recentList::item {{ padding: 6px 8px; border-radius: 5px; color: {TEXT}; }}
QListWidget#recentList::item:hover {{ background: {RAISED}; }}
"""


def make_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.PlaceholderText: TEXT_FAINT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.Light: "#4a4d53",
        QPalette.ColorRole.Midlight: BORDER,
        QPalette.ColorRole.Mid: "#2a2c30",
        QPalette.ColorRole.Dark: "#141517",
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(TEXT_FAINT))
    return palette


def apply_style(app: QApplication) -> None:
    """Fusion + the palette + the style sheet; a slightly larger default font on small ones."""
    app.setStyle("Fusion")
    app.setPalette(make_palette())
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
    app.setFont(font)
    app.setStyleSheet(_STYLE_SHEET)
