"""The window-builder example app (just enough to deploy and smoke-test)."""
