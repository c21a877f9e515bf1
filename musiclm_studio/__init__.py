"""MusicLM Studio."""
