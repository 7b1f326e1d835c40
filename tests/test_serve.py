"""The real-time server: the MCP server driven by the SDK's own stdio client (a real subprocess
running ``python -m jazz_solo serve --adapter <tiny adapter>``), plus the refusals, and the streaming
session's continuity and pruning on a real tiny model."""
from __future__ import annotations

import base64
import dataclasses
import json
import sys
from pathlib import Path

import anyio
import pytest
import torch
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from jazz_solo.generation.generate import GenSettings
from jazz_solo.serving.engine import (
    MAX_MIDI_BYTES, CausalStreamSession, Engine, StreamSession, check_settings, notes_from_midi_bytes, open_stream,
    resolve_inside,
)

from jazz_solo.config import load_config
from jazz_solo.data.midi_io import split_roles
from jazz_solo.settings import Settings

from conftest import PROJECT_ROOT, comping_and_lead
from test_generate import make_adapter  # the shared tiny base + LoRA adapter
from tiny_jazz import jazz_piece


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("model"))


def _text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def test_mcp_stdio_client_gets_a_solo(adapter, make_midi, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    piece = make_midi("allowed/piece.mid", seconds=6.0)
    (tmp_path / "secret.mid").write_bytes(piece.read_bytes())
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "jazz_solo", "serve", "--adapter", str(adapter), "--allowed-dir", str(allowed)],
        cwd=str(PROJECT_ROOT),
    )
    solo_b64 = {}

    async def session():
        async with Client(params, read_timeout_seconds=120) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"describe_model", "generate_solo", "start_session", "stream_chunk", "end_session"} <= names
            desc = json.loads(_text(await client.call_tool("describe_model", {})))
            assert desc["split_pitch"] == 60 and desc["parameters"] > 0
            b64 = base64.b64encode(piece.read_bytes()).decode()
            res = await client.call_tool("generate_solo", {"midi_base64": b64, "seed": 3, "temperature": 0.9})
            assert not res.is_error, _text(res)
            solo_b64["inline"] = json.loads(_text(res))["midi_base64"]
            res = await client.call_tool("generate_solo", {"path": "piece.mid", "seed": 3, "temperature": 0.9})
            assert not res.is_error, _text(res)
            solo_b64["path"] = json.loads(_text(res))["midi_base64"]
            # Refusals come back as error results, and the server keeps answering afterwards.
            for args, needle in [
                ({"path": "../secret.mid"}, "outside the allowed folder"),
                ({"path": str(tmp_path / "secret.mid")}, "outside the allowed folder"),
                ({"midi_base64": base64.b64encode(b"MThd garbage").decode()}, "midi_base64"),
                ({"midi_base64": "%%%"}, "not valid base64"),
                ({"midi_base64": b64, "temperature": 1000}, "out of range"),
                ({"midi_base64": b64, "top_p": -1}, "out of range"),
            ]:
                res = await client.call_tool("generate_solo", args)
                assert res.is_error and needle in _text(res), (args, _text(res))
            sid = json.loads(_text(await client.call_tool("start_session", {"seed": 1})))["session_id"]
            chunk = base64.b64encode(make_midi("chunk.mid", seconds=4.0).read_bytes()).decode()
            for _ in range(2):
                res = await client.call_tool("stream_chunk", {"session_id": sid, "midi_base64": chunk, "chunk_seconds": 4.0})
                assert not res.is_error, _text(res)
                assert all(0 <= n[0] < 4.0 and n[1] > n[0] for n in json.loads(_text(res))["notes"])  # may ring on
            res = await client.call_tool("end_session", {"session_id": sid})
            assert json.loads(_text(res))["chunks"] == 2
            res = await client.call_tool("stream_chunk", {"session_id": sid, "midi_base64": chunk, "chunk_seconds": 4.0})
            assert res.is_error and "unknown session_id" in _text(res)

    anyio.run(session)
    assert solo_b64["inline"] == solo_b64["path"]  # same input + seed -> same bytes
    out = tmp_path / "solo.mid"
    out.write_bytes(base64.b64decode(solo_b64["inline"]))
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in pm.instruments] == ["comping", "solo"]
    assert all(n.pitch > 0 and n.end > n.start for n in pm.instruments[1].notes)


def test_settings_refused_with_clear_messages():
    base = GenSettings.defaults()
    assert check_settings(base, {"temperature": 0.8, "top_k": 10}).top_k == 10
    for bad, needle in [
        ({"temperature": 0}, "out of range"), ({"temperature": float("nan")}, "out of range"),
        ({"top_k": 2.5}, "integer"), ({"top_p": "x"}, "number"), ({"max_new_tokens": 10**9}, "out of range"),
        ({"window_seconds": 3}, "unknown setting"),
    ]:
        with pytest.raises(ValueError, match=needle):
            check_settings(base, bad)


def test_paths_and_midi_limits(tmp_path, make_midi):
    allowed = tmp_path / "a"
    allowed.mkdir()
    good = make_midi("a/x.mid", seconds=2.0)
    assert resolve_inside("x.mid", allowed) == good.resolve()
    (allowed / "link.mid").symlink_to(tmp_path / "outside.mid")
    (tmp_path / "outside.mid").write_bytes(good.read_bytes())
    for bad in ["../outside.mid", "link.mid", str(tmp_path / "outside.mid")]:
        with pytest.raises(ValueError, match="outside the allowed folder"):
            resolve_inside(bad, allowed)
    with pytest.raises(ValueError, match="disabled"):
        resolve_inside("x.mid", None)
    with pytest.raises(ValueError, match="MIDI limit"):
        notes_from_midi_bytes(b"MThd" + bytes(MAX_MIDI_BYTES))
    with pytest.raises(ValueError, match="MThd"):
        notes_from_midi_bytes(b"hello")


def test_stream_session_continues_and_prunes(adapter):
    torch.set_num_threads(1)
    engine = Engine.load(adapter_dir=adapter)
    session = StreamSession(engine, {"continuity_seconds": 2.0}, seed=5)
    piece = comping_and_lead(24.0)
    half = engine.settings.window_seconds / 2
    total = 0
    for k in range(6):
        chunk = [n._replace(start=n.start - k * half, end=n.end - k * half) for n in piece if k * half <= n.start < (k + 1) * half]
        out = session.feed(chunk, half)
        # onsets inside the chunk; a note may ring into the next one (the duration vocabulary)
        assert all(0 <= n.start < half and n.end > n.start for n in out)
        total += len(out)
    assert session.gen.cursor == round(6 * half * 100)
    assert total > 0
    # Memory stays bounded: only one window of history is kept.
    assert all(n.start >= session.now - engine.settings.window_seconds for n in session.gen.solos[0])
    assert all(n.end >= session.now - engine.settings.window_seconds for n in session.cond)


@pytest.fixture(scope="module")
def causal_adapter(tmp_path_factory) -> Path:
    return make_adapter(tmp_path_factory.mktemp("causal"), sequence="causal", max_sequence=128)


def test_mcp_stdio_causal_stream(causal_adapter, tmp_path):
    """The MCP stream tools over a causal model, through the SDK's stdio client: 250 ms chunks in,
    each answer the solo of the next 250 ms (timed from the chunk's end)."""
    from jazz_solo.data.midi_io import write_midi

    params = StdioServerParameters(command=sys.executable, args=["-m", "jazz_solo", "serve", "--adapter",
                                                                 str(causal_adapter)], cwd=str(PROJECT_ROOT))
    cond, _ = split_roles(comping_and_lead(6.0, seed=2), 60)
    chunk = 0.25  # 24 of them: the tiny random model plays 1-10 notes in 3 s, whatever the seed
    answers = []

    async def session():
        async with Client(params, read_timeout_seconds=120) as client:
            assert json.loads(_text(await client.call_tool("describe_model", {})))["stream_mode"] == "causal"
            opened = json.loads(_text(await client.call_tool("start_session", {"seed": 2})))
            assert opened["mode"] == "causal"
            for k in range(24):
                lo = k * chunk
                notes = [n._replace(start=n.start - lo, end=n.end - lo) for n in cond if lo <= n.start < lo + chunk]
                data = write_midi(tmp_path / f"c{k}.mid", {"comping": notes}).read_bytes() if notes else b""
                res = await client.call_tool("stream_chunk", {"session_id": opened["session_id"], "chunk_seconds": chunk,
                                                              "midi_base64": base64.b64encode(data).decode()})
                assert not res.is_error, _text(res)
                answers.append(json.loads(_text(res))["notes"])
            assert json.loads(_text(await client.call_tool("end_session", {"session_id": opened["session_id"]})))[
                "chunks"] == 24

    anyio.run(session)
    assert answers[0] == [] and sum(map(len, answers)) > 0
    assert all(0 <= n[0] < chunk and n[1] > n[0] and n[2] > 60 for notes in answers for n in notes)


def test_causal_stream_follows_the_chunk_just_heard(causal_adapter, adapter):
    """A causal model streams causally: each 250 ms chunk's answer is the solo of the next 250 ms,
    decided having heard the comping up to the chunk's end; a windowed model stays chunk-behind."""
    torch.set_num_threads(1)
    engine = Engine.load(adapter_dir=causal_adapter)
    assert engine.causal and engine.describe()["stream_mode"] == "causal"
    assert isinstance(open_stream(Engine.load(adapter_dir=adapter)), StreamSession)
    session = open_stream(engine, {"temperature": 1.0}, seed=4)
    assert isinstance(session, CausalStreamSession)
    # off the chunk grid, as a player is (an event exactly on a chunk boundary is the next chunk's
    # here and already heard offline)
    cond = [n._replace(start=n.start + 0.013, end=n.end + 0.013) for n in split_roles(comping_and_lead(12.0, 1), 60)[0]]
    chunk, played = 0.25, []
    for k in range(48):
        lo, hi = k * chunk, (k + 1) * chunk
        notes = [n._replace(start=n.start - lo, end=n.end - lo) for n in cond if lo <= n.start < hi]
        out = session.feed(notes, chunk)
        assert all(0 <= n.start < chunk and n.end > n.start and n.pitch > 60 for n in out), out
        played += [n._replace(start=n.start + hi, end=n.end + hi) for n in out]
        if k == 0:
            assert out == []  # the lead-in: what was written over the first chunk is past
    assert len(played) > 10
    # every note was decided having heard the comping up to at most a chunk before it sounds
    soloist = session.soloist
    assert all(n.start - heard < chunk + 0.011 for n, heard in zip(soloist.notes, soloist.heard_until))
    # the same arrival offline decides the same notes: what the offline metrics score is what is played
    from jazz_solo.generation.causal import offline_causal_solo

    offline = offline_causal_solo(engine.model, cond, engine.settings, 60, seed=4, chunk_seconds=chunk,
                                  lookahead_seconds=chunk, seconds=12.0)
    same = lambda notes: [(n.start, n.pitch, n.velocity) for n in notes if n.start < 11.5]  # noqa: E731
    assert same(offline.notes) == same(soloist.notes)


def test_cli_refusals_are_one_line(tmp_path, capsys):
    from jazz_solo.__main__ import main as cli_main

    assert cli_main(["serve", "--bundle", str(tmp_path / "none")]) == 2
    assert "no exported bundle" in capsys.readouterr().err
    assert cli_main(["serve", "--bundle", str(tmp_path), "--midi-in", "x"]) == 2
    assert "both --midi-in and --midi-out" in capsys.readouterr().err
    assert cli_main(["serve", "--bundle", str(tmp_path), "--http", "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("generate: {top_p: 2.0}\n")
    assert cli_main(["serve", "--bundle", str(tmp_path), "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "generate.top_p" in capsys.readouterr().err  # the override is validated before any model loads


def test_engine_takes_the_defaults_the_model_does_not_record_from_the_settings(adapter):
    s = Settings.from_config(load_config())
    engine = Engine.load(adapter_dir=adapter, settings=dataclasses.replace(
        s, generate=s.generate.updated({"temperature": 0.5}), data=s.data.updated({"split_pitch": 64})))
    assert engine.settings.temperature == 0.5
    assert engine.split_pitch == 60  # recorded by the model: it wins over the settings'


# --- the recorded MCP stream session (issue 14: behaviour unchanged across refactors) -------------
#
# A fixed session (start_session, 3 stream_chunk calls, end_session, fixed seed) over the stdio client
# against a tiny bundle built here (seeded weights, tests/configs/tiny.yaml's settings), its transcript
# compared byte for byte with tests/golden/mcp_stream_session.json. A change that alters what the
# server answers (sampling, tokens, timing, MIDI bytes, the tools' replies) fails it on purpose.
# To record it again after an intended change, run
#     JAZZ_SOLO_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_serve.py -k transcript
# review `git diff tests/golden/` and commit it with the change that explains it. The weights and
# the sampling run on CPU with one torch thread (`serve --threads 1`), so the transcript is the
# same on any machine with the same torch build; a torch upgrade may change float rounding and so
# the sampled notes: record it again then, and say so in the commit.

GOLDEN = Path(__file__).parent / "golden" / "mcp_stream_session.json"
UPDATE_GOLDEN = "JAZZ_SOLO_UPDATE_GOLDEN"


def tiny_bundle(root: Path) -> Path:
    """An exported-bundle folder (bundle.json, adapter/ over base_model/) of tests/configs/tiny.yaml,
    with seeded weights: the base from build_model's seed, a LoRA adapter with seeded non-zero B."""
    from jazz_solo.selection.export import bundle
    from jazz_solo.training.lora import save_adapter, wrap
    from jazz_solo.training.model import build_model, save_base

    config = load_config(PROJECT_ROOT / "tests" / "configs" / "tiny.yaml")
    settings = Settings.from_config(config)
    base = build_model(settings.model, seed=11, data=config["data"])
    save_base(base, root / "base_model")
    adapter = wrap(base, dataclasses.replace(settings.lora, r=2), seed=12)
    gen = torch.Generator().manual_seed(13)
    with torch.no_grad():
        for name, p in sorted(adapter.named_parameters()):
            if "lora_B" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    save_adapter(adapter, root / "adapter", root / "base_model")
    (root / "bundle.json").write_text(json.dumps(bundle(settings, {"candidate": "tiny"}), indent=2, sort_keys=True))
    return root


def stream_transcript(bundle_dir: Path) -> str:
    """The session over stdio: each call's tool, arguments and parsed reply, one JSON line per call;
    the random session id is written as <session>."""
    from jazz_solo.serving.engine import midi_bytes

    params = StdioServerParameters(command=sys.executable, cwd=str(PROJECT_ROOT),
                                   args=["-m", "jazz_solo", "serve", "--bundle", str(bundle_dir), "--threads", "1"])
    cond, _ = split_roles(jazz_piece(bars=8, seed=5, key=-3), 60)
    chunk = 4.0
    lines: list[str] = []
    ids: list[str] = []

    async def call(client, tool: str, arguments: dict) -> dict:
        res = await client.call_tool(tool, arguments)
        reply = _text(res) if res.is_error else json.loads(_text(res))
        lines.append(json.dumps({"tool": tool, "arguments": arguments, "is_error": bool(res.is_error), "reply": reply}))
        return reply

    async def session():
        async with Client(params, read_timeout_seconds=120) as client:
            sid = (await call(client, "start_session", {"seed": 7}))["session_id"]
            ids.append(sid)
            for k in range(3):
                lo = k * chunk
                notes = [n._replace(start=n.start - lo, end=n.end - lo) for n in cond if lo <= n.start < lo + chunk]
                data = base64.b64encode(midi_bytes({"comping": notes})).decode()
                await call(client, "stream_chunk", {"session_id": sid, "midi_base64": data, "chunk_seconds": chunk})
            await call(client, "end_session", {"session_id": sid})

    anyio.run(session)
    return "".join(line + "\n" for line in lines).replace(ids[0], "<session>")


def test_recorded_mcp_stream_transcript_is_unchanged(tmp_path):
    import os

    transcript = stream_transcript(tiny_bundle(tmp_path / "best"))
    calls = [json.loads(line) for line in transcript.splitlines()]
    assert [c["tool"] for c in calls] == ["start_session", *["stream_chunk"] * 3, "end_session"]
    assert not any(c["is_error"] for c in calls), transcript[:2000]
    assert calls[-1]["reply"]["chunks"] == 3 and sum(len(c["reply"]["notes"]) for c in calls[1:4]) > 0
    if os.environ.get(UPDATE_GOLDEN) == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(transcript)
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing: record it with {UPDATE_GOLDEN}=1 (see the comment above this test)")
    golden = GOLDEN.read_text()
    if transcript != golden:
        diff = [f"call {i}: {a[:300]}\n   golden: {b[:300]}" for i, (a, b) in
                enumerate(zip(transcript.splitlines(), golden.splitlines())) if a != b]
        pytest.fail(f"the MCP stream transcript differs from {GOLDEN.name} (first difference below); if the change "
                    f"is intended, record it again with {UPDATE_GOLDEN}=1\n" + "\n".join(diff[:1] or ["(line count)"]))
