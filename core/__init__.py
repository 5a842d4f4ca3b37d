"""Sampletree's engine: audio, the library, scanning. Never imports Qt or app/."""
