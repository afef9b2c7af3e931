"""Speech recognition: VAD and endpointing, recognizer engines (Vosk, Whisper, PocketSphinx), models.

Entry points: `asr.engines.load_recognizer(config.asr)`, `asr.endpointing.Endpointer`,
`asr.models.download_model` (also `python -m asr.models`). Engines load their libraries lazily.
"""
