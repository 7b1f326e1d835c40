"""A hostile user's inputs (issue 12): every kind of bad MIDI of hostile_midi.py through ingest,
evaluate, generate and the server; bad CLI flags; duplicate pieces; corrupt results; HTTP sessions.

Every refusal must be one line naming the file, flag or key (never a traceback), every bad MIDI
a reason, and nothing stale or corrupt may pass for good. One tiny model serves all cases.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from pathlib import Path

import anyio
import pytest
import torch
from mcp.client.client import Client

import hostile_midi as H
from jazz_solo import artifacts
from jazz_solo.evaluation import scoring
from jazz_solo.selection import revalidate
from jazz_solo.__main__ import main
from jazz_solo.data.fingerprint import note_fingerprint
from jazz_solo.data.ingest import ingest
from jazz_solo.serving.mcp_server import build_server
from jazz_solo.serving.engine import Engine, check_seed, notes_from_midi_bytes, resolve_inside
from jazz_solo.serving.session_table import SessionTable
from jazz_solo.training.loop import _load_checkpoint
from test_generate import make_adapter  # the shared tiny base + LoRA adapter

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only add hand-off overhead on a busy CI box
    yield make_adapter(tmp_path_factory.mktemp("model"))
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def engine(adapter) -> Engine:
    return Engine.load(adapter_dir=adapter)


@pytest.fixture(scope="module")
def kind_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kinds")
    return {kind: _write(root / kind / f"{kind}.mid", H.build(kind)) for kind in H.KINDS}


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def cli(capsys, *args: str) -> tuple[int, str]:
    """The real entry point in-process: (exit code, stderr). Any traceback fails the test."""
    rc = main(list(args))
    return rc, capsys.readouterr().err


def one_line(err: str, *needles: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_there_are_at_least_40_kinds():
    assert len(H.KINDS) >= 40 and len(H.USABLE) >= 15 and len(H.UNUSABLE) >= 20


# --- every kind through ingest, evaluate, the server and generate ------------------------


def test_ingest_quarantines_unusable_kinds_with_a_reason_and_keeps_the_rest(kind_files, tmp_path):
    target = tmp_path / "target"
    for k in range(3):
        _write(target / f"t{k}.mid", H.mido_bytes([H.piece([50 + k, 70 + k, 53, 79 - k] * 4)]))
    filler = _write(tmp_path / "filler" / "Someone" / "filler.mid", H.mido_bytes([H.piece([40, 80] * 8)]))
    for kind, path in kind_files.items():
        out = tmp_path / kind
        pieces, quarantined = ingest([str(path.parent), str(filler.parent)], [str(target)], RATIOS, 1,
                                     out / "pieces.tsv", out / "quarantine.tsv")
        reasons = dict(quarantined)
        if kind in H.USABLE:
            assert str(path) in {p["path"] for p in pieces}, (kind, reasons)
        else:
            assert reasons.get(str(path)), kind
            assert str(path) in (out / "quarantine.tsv").read_text()
    smpte = dict(ingest([str(kind_files["smpte_division"].parent), str(filler.parent)], [str(target)], RATIOS, 1,
                        tmp_path / "s.tsv", tmp_path / "sq.tsv")[1])
    assert "SMPTE" in smpte[str(kind_files["smpte_division"])]


def test_evaluate_gives_unusable_files_a_reason_never_a_score(kind_files, tmp_path, capsys):
    for kind, path in kind_files.items():
        out = tmp_path / f"{kind}.json"
        rc, err = cli(capsys, "evaluate", str(path.parent), "--output", str(out))
        result = json.loads(out.read_text())
        if kind in H.USABLE:
            assert rc == 0 and result["status"] == "ok", (kind, result["files"])
        else:
            assert rc == 1 and result["status"].startswith("failed"), kind
            assert result["files"][0]["error"] and result["summary"]["num_samples"] == 0, kind
    # A reference made only of such files is no reference: no distance, status failed.
    junk_ref = tmp_path / "junk_ref"
    for kind in ("drum_only", "meta_only", "zero_length_notes", "sysex_only"):
        _write(junk_ref / f"{kind}.mid", kind_files[kind].read_bytes())
    out = tmp_path / "ref.json"
    rc, _ = cli(capsys, "evaluate", str(kind_files["plain_good"].parent), "--reference", str(junk_ref), "--output", str(out))
    result = json.loads(out.read_text())
    assert rc == 1 and result["realism_distance"] is None and "reference has no scored pieces" in result["status"]


def test_server_refuses_unusable_kinds_in_one_line_and_reads_the_rest(kind_files):
    for kind, path in kind_files.items():
        data = path.read_bytes()
        if kind in H.USABLE:
            assert notes_from_midi_bytes(data), kind
        else:
            with pytest.raises(ValueError) as info:
                notes_from_midi_bytes(data, kind)
            assert str(info.value).startswith(kind) and "\n" not in str(info.value)


def test_mcp_tools_refuse_every_unusable_kind_and_serve_a_usable_one(engine, kind_files, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "loop.mid").symlink_to(allowed / "loop.mid")
    (allowed / "a.mid").symlink_to(allowed / "b.mid")
    (allowed / "b.mid").symlink_to(allowed / "a.mid")
    server = build_server(engine, allowed)

    async def calls():
        async with Client(server) as client:
            for kind in H.UNUSABLE:
                b64 = base64.b64encode(kind_files[kind].read_bytes()).decode()
                res = await client.call_tool("generate_solo", {"midi_base64": b64})
                text = res.content[0].text
                assert res.is_error and "internal error" not in text and "\n" not in text, (kind, text)
            hostile = [
                ({"path": "loop.mid"}, "cannot be resolved"),
                ({"path": "a.mid"}, "cannot be resolved"),
                ({"path": "x" * 5000}, "not a usable path"),
                ({"path": "a\x00b.mid"}, "not a usable path"),
                ({"path": "d/" * 300 + "f.mid"}, "no such file"),
                ({"midi_base64": base64.b64encode(H.good()).decode(), "seed": 2**70}, "seed"),
                ({"midi_base64": base64.b64encode(H.good()).decode(), "seed": -1}, "seed"),
                ({"midi_base64": base64.b64encode(H.good()).decode(), "max_seconds": -1}, "max_seconds"),
            ]
            for args, needle in hostile:
                res = await client.call_tool("generate_solo", args)
                text = res.content[0].text
                assert res.is_error and needle in text and "internal error" not in text, (args, text)
                assert len(text) < 400
            res = await client.call_tool("start_session", {"seed": 2**70})
            assert res.is_error and "seed" in res.content[0].text
            big = base64.b64encode(b"MThd" + bytes(3 * 1024 * 1024)).decode()
            res = await client.call_tool("generate_solo", {"midi_base64": big})
            assert res.is_error and "limit" in res.content[0].text
            sid = json.loads((await client.call_tool("start_session", {"seed": 1})).content[0].text)["session_id"]
            for chunk_args, needle in (({"chunk_seconds": -1.0}, "chunk_seconds"), ({"chunk_seconds": 0.0}, "chunk_seconds"),
                                       ({"chunk_seconds": 1e9}, "chunk_seconds"), ({"session_id": "s1"}, "unknown session_id"),
                                       ({"midi_base64": "%%"}, "base64"), ({"session_id": "x" * 10_000}, "unknown session_id")):
                args = {"session_id": sid, "midi_base64": "", "chunk_seconds": 1.0, **chunk_args}
                res = await client.call_tool("stream_chunk", args)
                text = res.content[0].text
                assert res.is_error and needle in text and "internal error" not in text and len(text) < 400, text
            for bad in ({"temperature": 0}, {"top_p": 2}, {"top_k": 10**9}, {"seed": -5}):
                res = await client.call_tool("start_session", bad)
                assert res.is_error and "internal error" not in res.content[0].text, (bad, res.content[0].text)
            assert not (await client.call_tool("end_session", {"session_id": sid})).is_error
            good = base64.b64encode(kind_files["plain_good"].read_bytes()).decode()
            res = await client.call_tool("generate_solo", {"midi_base64": good, "seed": 5, "max_seconds": 2.0})
            assert not res.is_error, res.content[0].text

    anyio.run(calls)


def test_generate_cli_refuses_unusable_conditioning_in_one_line(adapter, kind_files, tmp_path, capsys):
    for kind in H.UNUSABLE:
        rc, err = cli(capsys, "generate", "--adapter", str(adapter), "--conditioning", str(kind_files[kind]),
                      "--out", str(tmp_path / "o.mid"))
        assert rc == 2, kind
        one_line(err, kind_files[kind].name)
    rc, err = cli(capsys, "generate", "--adapter", str(adapter), "--conditioning", str(kind_files["plain_good"]),
                  "--out", str(tmp_path / "good.mid"), "--max-seconds", "2", "--num-samples", "1")
    assert rc == 0 and (tmp_path / "good.mid").is_file(), err


# --- CLI flags ----------------------------------------------------------------------------


def _binary(tmp_path: Path) -> Path:
    return _write(tmp_path / "binary.bin", bytes(range(256)) * 4)


def test_generate_flags_are_refused_with_one_line_naming_the_flag(adapter, kind_files, tmp_path, capsys):
    cond = str(kind_files["plain_good"])
    folder = tmp_path / "existing_folder"
    folder.mkdir()
    a_file = _write(tmp_path / "a_file", b"x")
    cases = [
        (["--temperature", "nan"], "--temperature"), (["--temperature", "inf"], "--temperature"),
        (["--temperature", "-1"], "--temperature"), (["--temperature", "0"], "--temperature"),
        (["--top-p", "nan"], "--top-p"), (["--top-p", "0"], "--top-p"), (["--top-p", "1.5"], "--top-p"),
        (["--top-k", "-1"], "--top-k"), (["--num-samples", "0"], "--num-samples"),
        (["--num-samples", "1000000"], "--num-samples"), (["--max-seconds", "0"], "--max-seconds"),
        (["--max-seconds", "-5"], "--max-seconds"), (["--max-seconds", "nan"], "--max-seconds"),
        (["--window-seconds", "0"], "--window-seconds"), (["--split-pitch", "200"], "--split-pitch"),
        (["--primer-max-tokens", "0"], "--primer-max-tokens"), (["--listening-guidance", "-1"], "--listening-guidance"),
        (["--listening-guidance", "nan"], "--listening-guidance"), (["--out", str(folder)], "is a folder"),
        (["--out", str(a_file / "x.mid")], "is a file"), (["--device", "bogus"], "--device"),
        (["--device", "cuda:99"], "--device"), (["--config", str(_binary(tmp_path))], "binary.bin"),
        (["--config", str(_write(tmp_path / "list.yaml", b"- a\n- b\n"))], "list.yaml"),
        (["--config", str(tmp_path / "missing.yaml")], "missing.yaml"),
        (["--conditioning", str(tmp_path / "none.mid")], "none.mid"),
        (["--adapter", str(tmp_path / "no_adapter")], "no_adapter"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "CUDA is not available"))
    for extra, needle in cases:
        args = {"--adapter": str(adapter), "--conditioning": cond, "--out": str(tmp_path / "o.mid")}
        for flag, value in zip(extra[::2], extra[1::2]):
            args[flag] = value
        rc, err = cli(capsys, "generate", *[x for kv in args.items() for x in kv])
        assert rc == 2, (extra, err)
        one_line(err, needle)
    assert not list(tmp_path.glob("existing_folder*.mid")) and not list(folder.iterdir())


def test_nan_in_a_config_file_is_refused_naming_the_key(adapter, kind_files, tmp_path, capsys):
    for text, key in (("generate:\n  temperature: .nan\n", "generate.temperature"),
                      ("lora:\n  lr: .inf\n", "lora.lr"), ("sweep:\n  temperature: [0.9, .nan]\n", "sweep.temperature.1")):
        override = _write(tmp_path / "nan.yaml", text.encode())
        rc, err = cli(capsys, "generate", "--adapter", str(adapter), "--conditioning", str(kind_files["plain_good"]),
                      "--out", str(tmp_path / "o.mid"), "--config", str(override))
        assert rc == 2
        one_line(err, f"config key '{key}'", "not a finite number")


def test_evaluate_flags_and_references_are_refused_with_one_line(kind_files, tmp_path, capsys):
    folder = str(kind_files["plain_good"].parent)
    refs = {
        "strings.json": json.dumps({"mean": {"note_density": "high"}, "std": {"note_density": "1"}}),
        "nan.json": '{"mean": {"note_density": NaN}, "std": {}}',
        "list.json": "[1, 2, 3]",
        "truncated.json": '{"mean": {"note_den',
    }
    cases = [
        (["--max-seconds", "-5"], "--max-seconds"), (["--max-seconds", "0"], "--max-seconds"),
        (["--max-seconds", "nan"], "--max-seconds"), (["--threshold-ms", "-1"], "--threshold-ms"),
        (["--threshold-ms", "inf"], "--threshold-ms"), (["--split-pitch", "200"], "--split-pitch"),
        (["--output", str(tmp_path)], "is a folder"), (["--reference", str(_binary(tmp_path))], "binary.bin"),
        (["--reference", str(tmp_path / "nothing.json")], "nothing.json"),
        *((["--reference", str(_write(tmp_path / n, t.encode()))], n) for n, t in refs.items()),
    ]
    for extra, needle in cases:
        args = {"--output": str(tmp_path / "m.json"), **dict(zip(extra[::2], extra[1::2]))}
        rc, err = cli(capsys, "evaluate", folder, *[x for kv in args.items() for x in kv])
        assert rc == 2, (extra, err)
        one_line(err, needle)
    rc, err = cli(capsys, "evaluate", str(tmp_path / "no_such_folder"), "--output", str(tmp_path / "m.json"))
    assert rc == 2
    one_line(err, "no_such_folder")


# --- ingest: duplicates and junk ----------------------------------------------------------


def _retimed(factor: float, offset: int = 0, ticks: int = H.TPB) -> bytes:
    """The same notes re-exported: another tempo, another start offset, another ticks-per-beat."""
    return H.mido_bytes([H.piece(tempo=int(500_000 * factor), offset=offset, step=ticks // 2)], ticks=ticks)


def test_duplicates_by_content_are_quarantined_and_target_copies_leave_the_corpus(tmp_path):
    original = H.mido_bytes([H.piece()])
    corpus = tmp_path / "corpus" / "Ann"
    copies = {"a_original.mid": original, "b_renamed.mid": original, "c_tempo.mid": _retimed(1.37),
              "d_offset.mid": _retimed(1.0, offset=1234), "e_ticks.mid": _retimed(1.0, ticks=96),
              "f_other.mid": H.mido_bytes([H.piece([41, 83] * 8)])}
    for name, data in copies.items():
        _write(corpus / name, data)
    target = tmp_path / "target" / "Bob"
    _write(target / "x_target_copy.mid", _retimed(0.8, offset=77))
    for k in range(3):
        _write(target / f"t{k}.mid", H.mido_bytes([H.piece([50 + k, 70 + k, 53, 79 - k] * 4)]))
    pieces, quarantined = ingest([str(corpus)], [str(target)], RATIOS, 1, tmp_path / "p.tsv", tmp_path / "q.tsv")
    reasons = {Path(p).name: r for p, r in quarantined}
    kept = str(target / "x_target_copy.mid")
    assert set(reasons) == {"a_original.mid", "b_renamed.mid", "c_tempo.mid", "d_offset.mid", "e_ticks.mid"}
    assert all(r.startswith(f"duplicate of {kept}") and "target" in r for r in reasons.values())
    assert sorted(Path(p["path"]).name for p in pieces if p["source"] == "corpus") == ["f_other.mid"]
    assert "duplicate of" in (tmp_path / "q.tsv").read_text()
    # within one source: the first copy (by path) is kept, the rest name it
    pieces, quarantined = ingest([str(corpus)], [str(target / "t0.mid"), str(target / "t1.mid"), str(target / "t2.mid")],
                                 RATIOS, 1, tmp_path / "p2.tsv", tmp_path / "q2.tsv")
    assert {Path(p).name for p, _ in quarantined} == {"b_renamed.mid", "c_tempo.mid", "d_offset.mid", "e_ticks.mid"}
    assert all(r == f"duplicate of {corpus / 'a_original.mid'}" for _, r in quarantined)


def test_fingerprint_ignores_offset_and_tempo_but_not_the_music():
    from jazz_solo.data.tokens import Note

    notes = [Note(0.0, 0.5, 60, 80), Note(0.5, 1.0, 64, 70), Note(1.0, 2.0, 67, 90)]
    moved = [Note(3 + 1.5 * n.start, 3 + 1.5 * n.end, n.pitch, 100) for n in notes]
    assert note_fingerprint(notes) == note_fingerprint(moved)
    assert note_fingerprint(notes) != note_fingerprint([n._replace(pitch=n.pitch + 1) for n in notes])


def test_a_corpus_of_junk_only_is_one_line_naming_the_key(kind_files, tmp_path):
    junk = tmp_path / "junk"
    for kind in H.UNUSABLE[:6]:
        _write(junk / f"{kind}.mid", kind_files[kind].read_bytes())
    target = tmp_path / "target"
    for k in range(3):
        _write(target / f"t{k}.mid", H.mido_bytes([H.piece([50 + k, 70 + k] * 4)]))
    with pytest.raises(ValueError, match=r"^config key 'data.corpus': none of its 6 MIDI files is usable") as info:
        ingest([str(junk)], [str(target)], RATIOS, 1, tmp_path / "p.tsv", tmp_path / "q.tsv")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="data.target"):
        ingest([str(target)], [str(junk)], RATIOS, 1, tmp_path / "p.tsv", tmp_path / "q.tsv")


# --- corrupt and stale results ------------------------------------------------------------


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_adapter_is_one_line_for_generate_and_serve(adapter, kind_files, tmp_path, capsys):
    import shutil

    broken = tmp_path / "adapter"
    shutil.copytree(adapter, broken)
    cfg = json.loads((broken / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str((adapter / cfg["base_model_name_or_path"]).resolve())
    (broken / "adapter_config.json").write_text(json.dumps(cfg))
    _truncate(broken / "adapter_model.safetensors")
    with pytest.raises(artifacts.ArtifactError, match="truncated or corrupt"):
        artifacts.verify_adapter(broken)
    rc, err = cli(capsys, "generate", "--adapter", str(broken), "--conditioning", str(kind_files["plain_good"]),
                  "--out", str(tmp_path / "o.mid"))
    assert rc == 2
    one_line(err, "adapter_model.safetensors")
    with pytest.raises(ValueError, match="adapter_model.safetensors"):
        Engine.load(adapter_dir=broken)
    (broken / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(artifacts.ArtifactError, match="bad header"):
        artifacts.verify_adapter(broken)


def test_corrupt_results_are_set_aside_so_snakemake_rebuilds_them(adapter, tmp_path):
    import shutil

    results = tmp_path / "results"
    cand = "split_pitch~60/lora_r~2"
    good_adapter, bad_adapter = results / "train" / "ok" / "adapter", results / "train" / cand / "adapter"
    for dest in (good_adapter, bad_adapter):
        shutil.copytree(adapter, dest)
    _truncate(bad_adapter / "adapter_model.safetensors", 0.9)
    stale = results / "gen" / cand / "temperature~0.9" / "metrics.json"   # scored the corrupt adapter's samples
    truncated = results / "gen" / "ok" / "temperature~0.9" / "metrics.json"
    fine = results / "gen" / "ok" / "temperature~1.1" / "metrics.json"
    for path in (stale, truncated, fine):
        scoring.write_json(path, {"status": "ok", "summary": {}, "files": []})
    _truncate(truncated, 0.6)
    base = results / "base" / "split_pitch~60" / "model"
    shutil.copytree(adapter.parent / "base", base)
    _truncate(base / "model.safetensors", 0.99)
    reference = scoring.write_json(results / "data" / "split_pitch~60" / "reference.json", {"mean": {}, "std": {}})
    _truncate(reference, 0.5)
    jsonl = results / "gen" / "ok" / "temperature~1.1" / "samples.jsonl"
    jsonl.write_text('{"piece_id": "p", "seed": 1}\n{"piece_id": "q", "se')
    reval = scoring.write_json(results / "best" / "reval" / "metrics.json", {"status": "ok"})  # no summary
    found = {p for p, _ in artifacts.set_aside_corrupt(results)}
    assert found == {bad_adapter, stale, truncated, base, reference, jsonl, reval}
    assert not bad_adapter.exists() and (bad_adapter.parent / "adapter.corrupt").is_dir()
    assert not stale.exists() and not truncated.exists() and fine.is_file() and good_adapter.is_dir()
    assert artifacts.set_aside_corrupt(results) == []  # the next load finds nothing left


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = scoring.write_json(tmp_path / "m.json", {"status": "ok", "summary": {}})
    with pytest.raises(ValueError):
        scoring.write_json(path, {"status": float("nan")})  # fails while serialising: old file intact
    assert json.loads(path.read_text())["status"] == "ok" and [p.name for p in tmp_path.iterdir()] == ["m.json"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~artifacts._UMASK  # not mkstemp's private 0600


def test_corrupt_checkpoint_is_set_aside_with_a_warning(tmp_path, capsys):
    ckpt = tmp_path / "checkpoint" / "state.pt"
    ckpt.parent.mkdir()
    torch.save({"fingerprint": "f", "step": 3, "weights": torch.zeros(1000)}, ckpt)
    _truncate(ckpt)
    assert _load_checkpoint(ckpt, "f") is None
    assert not ckpt.exists() and (ckpt.parent / "state.pt.corrupt").is_file()
    assert "corrupt" in capsys.readouterr().err


def test_revalidation_jsonl_has_no_timings(tmp_path):
    jsonl = tmp_path / "samples.jsonl"
    jsonl.write_text('{"piece_id": "p", "seed": 1, "wall_s": 0.123}\n{"piece_id": "q", "seed": 2, "wall_s": 9.9}\n')
    revalidate.drop_timings(jsonl)
    assert jsonl.read_text() == '{"piece_id": "p", "seed": 1}\n{"piece_id": "q", "seed": 2}\n'


# --- sessions -----------------------------------------------------------------------------


def test_session_table_isolates_clients_caps_them_and_expires_idle_sessions():
    now = [0.0]
    table = SessionTable(per_owner=2, max_total=3, idle_seconds=60, evict_after=30, clock=lambda: now[0])
    a1, a2 = table.open("A", object), table.open("A", object)
    assert len({a1, a2}) == 2 and min(len(a1), len(a2)) >= 20  # random, not s1, s2
    with pytest.raises(ValueError, match="too many open sessions for this client"):
        table.open("A", object)
    b1 = table.open("B", object)  # A being at its cap does not lock B out
    for owner, sid in (("B", a1), ("A", b1), ("A", "s1")):
        with pytest.raises(ValueError, match="unknown session_id"):
            table.get(owner, sid)
    with pytest.raises(ValueError, match="unknown session_id"):
        table.close("B", a1)  # B cannot end A's session
    with pytest.raises(ValueError, match="server busy"):
        table.open(None, object)  # every session was used within evict_after
    with pytest.raises(ValueError, match="unknown session_id"):
        table.get(None, a1)  # a client without a transport session cannot use an owned id
    now[0] = 40.0
    table.get("A", a1)  # touched: stays alive
    c1 = table.open(None, object)  # full, but b1/a2 idle for 40 s >= evict_after: the stalest (a2) makes room
    with pytest.raises(ValueError, match="unknown session_id"):
        table.get("A", a2)
    now[0] = 90.0
    assert len(table) == 2 and table.get("A", a1) is not None and table.get(None, c1) is not None  # b1 expired
    table.close("A", a1)
    assert len(table) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_sessions_are_bound_to_the_mcp_session(engine):
    import uvicorn

    server = build_server(engine, None)
    port = _free_port()
    web = uvicorn.Server(uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/mcp"

    async def two_clients():
        # mode="legacy": the handshake protocol, whose HTTP transport has sessions (mcp-session-id)
        async with Client(url, mode="legacy") as alice, Client(url, mode="legacy") as mallory:
            res = await alice.call_tool("start_session", {"seed": 1})
            sid = json.loads(res.content[0].text)["session_id"]
            assert len(sid) >= 20
            for tool, args in (("stream_chunk", {"session_id": sid, "midi_base64": "", "chunk_seconds": 1.0}),
                               ("end_session", {"session_id": sid})):
                res = await mallory.call_tool(tool, args)
                assert res.is_error and "unknown session_id" in res.content[0].text
            opened = [await mallory.call_tool("start_session", {}) for _ in range(5)]
            assert [r.is_error for r in opened] == [False] * 4 + [True]  # mallory's cap, not alice's
            res = await alice.call_tool("start_session", {})
            assert not res.is_error, res.content[0].text
            res = await alice.call_tool("end_session", {"session_id": sid})
            assert not res.is_error and json.loads(res.content[0].text)["session_id"] == sid

    async def stateless_clients():
        # 2026-07-28 HTTP has no transport session: the random id is the only key to a session
        async with Client(url) as alice, Client(url) as mallory:
            sid = json.loads((await alice.call_tool("start_session", {"seed": 1})).content[0].text)["session_id"]
            res = await mallory.call_tool("end_session", {"session_id": sid[:-1] + ("A" if sid[-1] != "A" else "B")})
            assert res.is_error and "unknown session_id" in res.content[0].text
            res = await alice.call_tool("end_session", {"session_id": sid})
            assert not res.is_error, res.content[0].text

    try:
        assert web.started, "HTTP server did not start"
        anyio.run(two_clients)
        anyio.run(stateless_clients)
    finally:
        web.should_exit = True
        thread.join(timeout=10)


def test_check_seed_and_resolve_inside_refuse_cleanly(tmp_path):
    assert check_seed(2**63 - 1) == 2**63 - 1
    for bad in (2**70, -1, 1.5, True, "7"):
        with pytest.raises(ValueError, match="seed"):
            check_seed(bad)
    (tmp_path / "loop.mid").symlink_to(tmp_path / "loop.mid")
    for path in ("loop.mid", "y" * 5000, "../" * 50 + "etc/passwd", os.sep + "etc" + os.sep + "passwd"):
        with pytest.raises(ValueError) as info:
            resolve_inside(path, tmp_path)
        assert len(str(info.value)) < 400 and "\n" not in str(info.value)



def test_odd_file_system_entries_in_ingest(tmp_path):
    corpus = tmp_path / "corpus" / "Ann"
    _write(corpus / "Ünïcödé – tune.mid", H.mido_bytes([H.piece([45, 75] * 6)]))
    _write(corpus / "UPPER.MIDI", H.mido_bytes([H.piece([46, 76] * 6)]))
    _write(corpus / "Tune [Live] (take 2).mid", H.mido_bytes([H.piece([47, 77] * 6)]))
    (corpus / "folder.mid").mkdir()                           # a folder with a MIDI name: not a file
    (corpus / "loop.mid").symlink_to(corpus / "loop.mid")     # a symlink loop
    (corpus / "dangling.mid").symlink_to(tmp_path / "gone.mid")
    (corpus / "cycle").symlink_to(corpus, target_is_directory=True)  # a folder loop
    target = tmp_path / "target"
    for k in range(3):
        _write(target / f"t{k}.mid", H.mido_bytes([H.piece([50 + k, 70 + k] * 4)]))
    pieces, quarantined = ingest([str(corpus)], [str(target)], RATIOS, 1, tmp_path / "p.tsv", tmp_path / "q.tsv")
    names = sorted(Path(p["path"]).name for p in pieces if p["source"] == "corpus")
    assert names == ["Tune [Live] (take 2).mid", "UPPER.MIDI", "Ünïcödé – tune.mid"], (names, quarantined)
