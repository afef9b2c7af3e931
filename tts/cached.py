"""The synthesizer a call session speaks through: static prompts from the cache, dynamic text streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from pathlib import Path

from ivr.core.audio import SUPPORTED_CALL_RATES, check_call_rate
from ivr.core.config import TtsConfig
from ivr.core.errors import ConfigError
from ivr.core.interfaces import SynthesizerCapabilities
from tts.cache import PrewarmResult, PromptCache
from tts.pyttsx3_engine import Pyttsx3Synthesizer, WorkerKind
from tts.text import clean, sentences


class CachedSynthesizer:
    """An engine and its prompt cache; implements `ivr.core.interfaces.Synthesizer`."""

    def __init__(self, engine: Pyttsx3Synthesizer, cache: PromptCache) -> None:
        self.engine = engine
        self.cache = cache
        # Read once: the engine fills in its voices and version when it starts, before `open` returns.
        self.capabilities: SynthesizerCapabilities = engine.capabilities

    @classmethod
    async def open(
        cls, config: TtsConfig, cache_dir: str | Path | None = None, *, worker: WorkerKind = "process"
    ) -> CachedSynthesizer:
        """Start the engine named in `config` and its cache; SynthesisError if espeak-ng cannot run."""
        # `cache_dir` overrides `config.cache_dir`, which is relative to config.toml (see `Config.path`).
        if config.engine != "pyttsx3":
            raise ConfigError(f"[tts] engine = {config.engine!r} is not available; use 'pyttsx3'")
        engine = Pyttsx3Synthesizer(config, worker=worker)
        await engine.start()
        return cls(engine, PromptCache(cache_dir if cache_dir is not None else config.cache_dir, engine))

    async def say(self, text: str, rate: int) -> bytes:
        """PCM16 for a prompt: cached after the first time (a hit takes about a millisecond)."""
        return await self.cache.get_or_synthesize(text, rate)

    async def synthesize(self, text: str, rate: int) -> bytes:
        """Same as `say`, for code written against the `Synthesizer` interface."""
        return await self.say(text, rate)

    async def stream(self, text: str, rate: int) -> AsyncGenerator[bytes, None]:
        """PCM16 blocks for dynamic text: cached sentences at once, the rest synthesized as it plays."""
        # Sentences synthesized here are not stored: one-off text (order numbers, dates) would fill the cache.
        check_call_rate(rate)
        whole = await self.cache.lookup(text, rate)
        if whole is not None:
            yield whole
            return
        chunks = sentences(text)
        whole_text = clean(text)  # a one-sentence text was just looked up as a whole
        hits = [None if c == whole_text else await self.cache.lookup(c, rate) for c in chunks]
        i = 0
        while i < len(chunks):
            hit = hits[i]
            if hit is not None:
                yield hit
                i += 1
                continue
            j = i
            while j < len(chunks) and hits[j] is None:
                j += 1
            # Consecutive misses go to the engine together so it works one sentence ahead.
            async with aclosing(self.engine.stream_sentences(chunks[i:j], rate)) as blocks:
                async for block in blocks:
                    yield block
            i = j

    async def prewarm(self, texts: Iterable[str], rates: Iterable[int] = SUPPORTED_CALL_RATES) -> PrewarmResult:
        """Cache every static prompt of a flow at each call rate (run when the flow is loaded or published)."""
        prompts = list(texts)
        synthesized = cached = 0
        failed: list[str] = []
        for rate in rates:
            result = await self.cache.prewarm(prompts, check_call_rate(rate))
            synthesized += result.synthesized
            cached += result.cached
            failed.extend(t for t in result.failed if t not in failed)
        return PrewarmResult(synthesized=synthesized, cached=cached, failed=tuple(failed))

    async def aclose(self) -> None:
        """Stop the engine worker and the cache's I/O threads."""
        await self.engine.aclose()
        self.cache.close()

    async def __aenter__(self) -> CachedSynthesizer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
