"""Speech synthesis: `tts.cached.CachedSynthesizer` (what a call speaks through), `tts.pyttsx3_engine`, `tts.cache`."""
