"""The application layer, no Qt: the Session (the one API of the GUI, the CLI and batch) and
what it orchestrates: prompts, propagation, editing, describing, and the engines it runs."""
