"""InfluxDestination against a real VictoriaMetrics and against a scripted fake server (status codes)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import numpy as np
import pytest

from drivers.influx_destination import InfluxDestination, parse_retry_after, server_message
from gateway.vocab import (
    AlarmEvent,
    ChannelMeta,
    Delivery,
    DestinationBusyError,
    ForwardChunk,
    Quality,
    RecordKind,
    RetryableSinkError,
)
from tests.drivers.influx.fake_influx import Answer, FakeInflux, server_tls
from tests.support import free_port, self_signed_cert
from tests.vm import VictoriaMetrics

T0 = 1_700_000_000.0
T0_MS = 1_700_000_000_000
CHANNELS = [
    ChannelMeta("tc1.load", "tc1-plc", "load", "t"),
    ChannelMeta("tc1.tilt_x", "tc1-inclinometer", "tilt", "deg"),
    ChannelMeta("wind.speed", "anemometer", "wind_speed", "m/s"),
]


def readings_chunk(
    n: int, first_seq: int = 1, channels: int = 3, chunk_id: str | None = None
) -> ForwardChunk:
    seq = np.arange(first_seq, first_seq + n, dtype=np.int64)
    return ForwardChunk(
        id=chunk_id or f"site-7-readings-{first_seq}-{first_seq + n - 1}",
        site="site-7",
        kind=RecordKind.READINGS,
        segment=0,
        seq=seq,
        ts=(T0 + (seq - 1) * 0.001).astype(np.float64),  # 1 ms apart: every point its own timestamp
        channel=(seq % channels).astype(np.int32),
        value=(seq * 0.5).astype(np.float64),
        quality=np.zeros(n, np.uint8),
    )


def destination(url: str, **options: object) -> InfluxDestination:
    settings: dict[str, object] = {
        "name": "influx",
        "url": url,
        "token": "secret-token",
        "org": "acme",
        "bucket": "site-7",
        "site": "site-7",
        "channels": CHANNELS,
        "timeout_s": 5.0,
    }
    settings.update(options)
    return InfluxDestination(**settings)  # type: ignore[arg-type]


def event_json(event_id: str, ts: float, grade: int, state: str, value: float | None) -> str:
    return AlarmEvent(
        site="site-7",
        ts=ts,
        channel="wind.speed",
        rule="wind_gust",
        grade=grade,
        state=state,
        value=value,
        limit=15.0,
        unit="m/s",
        message=f"wind {value}",
        alarm_id="a1",
        id=event_id,
    ).to_json()


# --- against a real VictoriaMetrics -------------------------------------------------------------


async def test_readings_arrive_with_exact_values_tags_and_timestamps(
    victoria_metrics: VictoriaMetrics,
) -> None:
    chunk = ForwardChunk(
        id="site-7-readings-10-13",
        site="site-7",
        kind=RecordKind.READINGS,
        segment=0,
        seq=np.array([10, 11, 12, 13], np.int64),
        ts=np.array([T0, T0 + 0.001, T0 + 1.5, T0 + 2.0]),
        channel=np.array([0, 1, 2, 0], np.int32),
        value=np.array([3.25, -0.125, np.nan, 1e-7]),
        quality=np.array([0, Quality.TIME_ESTIMATED, Quality.BAD_COMM, 0], np.uint8),
    )
    async with destination(victoria_metrics.url, extra_tags={"gateway": "gw-1"}) as dest:
        assert await dest.send(chunk) == Delivery()

    series = await victoria_metrics.wait_for_points_async('{__name__="reading_value"}', 3)
    by_channel = {s["metric"]["channel"]: s for s in series}
    assert set(by_channel) == {"tc1.load", "tc1.tilt_x"}  # the bad wind reading has no value
    load = by_channel["tc1.load"]
    assert load["metric"] == {
        "__name__": "reading_value",
        "site": "site-7",
        "device": "tc1-plc",
        "channel": "tc1.load",
        "quantity": "load",
        "gateway": "gw-1",
    }
    assert load["values"] == [3.25, 1e-7]
    assert load["timestamps"] == [T0_MS, T0_MS + 2000]
    assert by_channel["tc1.tilt_x"]["values"] == [-0.125]
    assert by_channel["tc1.tilt_x"]["timestamps"] == [T0_MS + 1]

    quality = await victoria_metrics.wait_for_points_async('{__name__="reading_quality"}', 4)
    flags = {s["metric"]["channel"]: s["values"] for s in quality}
    assert flags == {"tc1.load": [0, 0], "tc1.tilt_x": [1], "wind.speed": [16]}
    seqs = victoria_metrics.export('{__name__="reading_seq"}')
    assert sorted(v for s in seqs for v in s["values"]) == [10, 11, 12, 13]


async def test_events_and_cycles_arrive(victoria_metrics: VictoriaMetrics) -> None:
    events = ForwardChunk(
        id="site-7-events-1-2",
        site="site-7",
        kind=RecordKind.EVENTS,
        segment=0,
        seq=np.array([1, 2], np.int64),
        ts=np.array([T0, T0 + 60]),
        documents=(
            event_json("e1", T0, 2, "raised", 17.5),
            event_json("e2", T0 + 60, 0, "cleared", None),
        ),
    )
    cycle = {
        "id": "cy-1",
        "crane": "TC1",
        "start": "2023-11-14T22:13:20.000Z",
        "end": "2023-11-14T22:15:00.000Z",
        "duration_s": 100,
        "max_load_t": 3.25,
    }
    cycles = ForwardChunk(
        id="site-7-cycles-1-1",
        site="site-7",
        kind=RecordKind.CYCLES,
        segment=0,
        seq=np.array([1], np.int64),
        ts=np.array([T0]),
        documents=(json.dumps(cycle),),
    )
    async with destination(victoria_metrics.url) as dest:
        assert await dest.send(events) == Delivery()
        assert await dest.send(cycles) == Delivery()

    grades = await victoria_metrics.wait_for_points_async('{__name__="alarm_event_grade"}', 2)
    by_state = {s["metric"]["state"]: s for s in grades}
    assert by_state["raised"]["values"] == [2] and by_state["raised"]["timestamps"] == [T0_MS]
    assert by_state["cleared"]["values"] == [0] and by_state["cleared"]["timestamps"] == [T0_MS + 60_000]
    assert by_state["raised"]["metric"]["rule"] == "wind_gust"
    (value,) = victoria_metrics.export('{__name__="alarm_event_value"}')
    assert value["values"] == [17.5]  # the cleared event's null value is left out

    (load,) = await victoria_metrics.wait_for_points_async('{__name__="crane_cycle_max_load_t"}', 1)
    assert load["metric"] == {"__name__": "crane_cycle_max_load_t", "site": "site-7", "crane": "TC1"}
    assert load["values"] == [3.25] and load["timestamps"] == [T0_MS]
    (duration,) = victoria_metrics.export('{__name__="crane_cycle_duration_s"}')
    assert duration["values"] == [100]


async def test_a_large_chunk_goes_in_several_requests_and_arrives_whole(
    victoria_metrics: VictoriaMetrics,
) -> None:
    chunk = readings_chunk(12_001)
    async with destination(victoria_metrics.url, max_points_per_request=5000) as dest:
        assert await dest.send(chunk) == Delivery()
        assert dest.requests == 3
    series = await victoria_metrics.wait_for_points_async('{__name__="reading_seq"}', 12_001)
    seqs = sorted(v for s in series for v in s["values"])
    assert seqs == list(range(1, 12_002))


async def test_a_chunk_sent_twice_is_stored_once(victoria_metrics: VictoriaMetrics) -> None:
    """Series + timestamp is the dedup id: a resent chunk does not double the data."""
    chunk = readings_chunk(300)
    async with destination(victoria_metrics.url) as dest:
        await dest.send(chunk)
        await victoria_metrics.wait_for_points_async('{__name__="reading_value"}', 300)
        await dest.send(chunk)
    assert victoria_metrics.samples('{__name__="reading_value"}') == 300


async def test_server_down_is_retryable_and_the_same_destination_recovers(
    victoria_metrics: VictoriaMetrics,
) -> None:
    async with destination(victoria_metrics.url) as dest:
        await dest.send(readings_chunk(10, first_seq=1))
        victoria_metrics.stop()
        with pytest.raises(RetryableSinkError) as caught:
            await dest.send(readings_chunk(10, first_seq=11))
        assert victoria_metrics.url in caught.value.reason
        assert not isinstance(caught.value, DestinationBusyError)

        victoria_metrics.start()  # same port, same data folder
        assert await dest.send(readings_chunk(10, first_seq=11)) == Delivery()
    series = await victoria_metrics.wait_for_points_async('{__name__="reading_seq"}', 20)
    assert sorted(v for s in series for v in s["values"]) == list(range(1, 21))


# --- against the fake server: what each answer means ----------------------------------------------


async def test_request_is_gzip_line_protocol_with_token_org_bucket_and_ms(fake_influx: FakeInflux) -> None:
    async with destination(fake_influx.url) as dest:
        assert await dest.send(readings_chunk(5)) == Delivery()
    (request,) = fake_influx.received
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "acme", "bucket": "site-7", "precision": "ms"}
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Token secret-token"
    assert request.gzipped
    assert request.lines[0] == (
        "reading,channel=tc1.tilt_x,device=tc1-inclinometer,quantity=tilt,site=site-7 "
        f"value=0.5,quality=0i,seq=1i {T0_MS}"
    )
    assert len(request.lines) == 5


async def test_no_token_sends_no_authorization_header(fake_influx: FakeInflux) -> None:
    async with destination(fake_influx.url, token=None) as dest:
        await dest.send(readings_chunk(1))
    assert "Authorization" not in fake_influx.received[0].headers


@pytest.mark.parametrize("status", [400, 422])
async def test_bad_data_is_refused_for_good_with_the_server_reason(
    fake_influx: FakeInflux, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    message = "unable to parse 'reading,site=x value=': missing field value\n\"quoted\""
    fake_influx.script(
        Answer(status, json.dumps({"code": "invalid", "message": message})),
        Answer(status, json.dumps({"code": "invalid", "message": message})),
    )
    caplog.set_level(logging.WARNING, logger="drivers.influx_destination")
    async with destination(fake_influx.url) as dest:
        first = await dest.send(readings_chunk(7))
        second = await dest.send(readings_chunk(3, first_seq=8))
        assert dest.points_rejected == 10
    assert first.rejected == 7 and second.rejected == 3
    assert first.reason is not None
    assert first.reason.startswith(f"HTTP {status}: unable to parse")
    assert "\n" not in first.reason
    refusals = [r for r in caplog.records if "refused for good" in r.getMessage()]
    assert len(refusals) == 1  # once per distinct reason


async def test_partial_write_counts_only_the_dropped_points(fake_influx: FakeInflux) -> None:
    message = "failure writing points to database: partial write: field type conflict dropped=2"
    fake_influx.script(Answer(422, json.dumps({"code": "unprocessable entity", "message": message})))
    async with destination(fake_influx.url) as dest:
        delivery = await dest.send(readings_chunk(10))
    assert delivery.rejected == 2
    assert delivery.reason is not None and "dropped=2" in delivery.reason


async def test_too_large_requests_are_halved_until_they_fit(fake_influx: FakeInflux) -> None:
    fake_influx.max_lines = 3
    chunk = readings_chunk(10)
    async with destination(fake_influx.url, max_points_per_request=10) as dest:
        assert await dest.send(chunk) == Delivery()
    accepted_seqs = [int(line.split("seq=")[1].split("i")[0]) for line in fake_influx.accepted]
    assert accepted_seqs == list(range(1, 11))  # every point once, in order
    # 10 refused, its first half (5) refused, then requests of 3 fit; the rest follow at that size.
    assert [len(r.lines) for r in fake_influx.received] == [10, 5, 3, 3, 3, 1]


async def test_a_single_point_too_large_is_refused(fake_influx: FakeInflux) -> None:
    fake_influx.max_lines = 0
    async with destination(fake_influx.url) as dest:
        delivery = await dest.send(readings_chunk(4))
    assert delivery.rejected == 4
    assert delivery.reason is not None and delivery.reason.startswith("HTTP 413")
    assert [len(r.lines) for r in fake_influx.received] == [4, 2, 1, 1, 1, 1]


@pytest.mark.parametrize("status", [429, 503])
async def test_busy_server_gives_its_retry_after(fake_influx: FakeInflux, status: int) -> None:
    fake_influx.script(Answer(status, headers={"Retry-After": "17"}))
    async with destination(fake_influx.url) as dest:
        with pytest.raises(DestinationBusyError) as caught:
            await dest.send(readings_chunk(3))
    assert caught.value.retry_after_s == 17.0
    assert f"HTTP {status}" in caught.value.reason


async def test_busy_without_retry_after_gives_none(fake_influx: FakeInflux) -> None:
    fake_influx.script(Answer(503, "overloaded"))
    async with destination(fake_influx.url) as dest:
        with pytest.raises(DestinationBusyError) as caught:
            await dest.send(readings_chunk(3))
    assert caught.value.retry_after_s is None
    assert "overloaded" in caught.value.reason


async def test_busy_with_an_http_date(fake_influx: FakeInflux) -> None:
    later = datetime(2100, 1, 1, tzinfo=UTC)
    fake_influx.script(Answer(429, headers={"Retry-After": format_datetime(later, usegmt=True)}))
    async with destination(fake_influx.url) as dest:
        with pytest.raises(DestinationBusyError) as caught:
            await dest.send(readings_chunk(3))
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 365 * 86400


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Sat, 21 Nov 2026 08:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sat, 21 Nov 2026 07:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("-5", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "unauthorised: check the token"),
        (403, "forbidden: check the token may write to bucket 'site-7'"),
        (404, "not found: check the URL"),
        (500, "server error (HTTP 500"),
        (502, "server error (HTTP 502"),
    ],
)
async def test_auth_url_and_server_errors_are_retryable_with_a_clear_reason(
    fake_influx: FakeInflux, status: int, words: str
) -> None:
    fake_influx.script(Answer(status, json.dumps({"code": "x", "message": "the server's words"})))
    async with destination(fake_influx.url) as dest:
        with pytest.raises(RetryableSinkError) as caught:
            await dest.send(readings_chunk(3))
    assert not isinstance(caught.value, DestinationBusyError)
    assert words in caught.value.reason
    assert "the server's words" in caught.value.reason
    assert fake_influx.url in caught.value.reason


async def test_retry_does_not_resend_requests_already_accepted(fake_influx: FakeInflux) -> None:
    fake_influx.script(Answer(204), Answer(400, '{"message":"bad"}'), Answer(500, "down"))
    chunk = readings_chunk(12)
    async with destination(fake_influx.url, max_points_per_request=3) as dest:
        with pytest.raises(RetryableSinkError):
            await dest.send(chunk)  # lines 1-3 taken, 4-6 refused, 7-9 failed
        delivery = await dest.send(chunk)  # the forwarder's retry
    assert delivery == Delivery(rejected=3, reason="HTTP 400: bad")
    sent = [[int(line.split("seq=")[1].split("i")[0]) for line in r.lines] for r in fake_influx.received]
    assert sent == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [7, 8, 9], [10, 11, 12]]


async def test_progress_is_kept_per_chunk_when_another_goes_in_between(fake_influx: FakeInflux) -> None:
    fake_influx.script(Answer(204), Answer(500, "down"))
    readings = readings_chunk(4, first_seq=1)
    async with destination(fake_influx.url, max_points_per_request=2) as dest:
        with pytest.raises(RetryableSinkError):
            await dest.send(readings)  # 1-2 taken, 3-4 failed
        await dest.send(readings_chunk(4, first_seq=101))  # e.g. fresh events go first
        await dest.send(readings)
    sent = [[int(line.split("seq=")[1].split("i")[0]) for line in r.lines] for r in fake_influx.received]
    assert sent == [[1, 2], [3, 4], [101, 102], [103, 104], [3, 4]]


async def test_locally_unencodable_records_are_refused_and_the_rest_sent(fake_influx: FakeInflux) -> None:
    chunk = readings_chunk(4)
    chunk.channel[1] = 99  # a column the site does not have
    async with destination(fake_influx.url) as dest:
        delivery = await dest.send(chunk)
    assert delivery.rejected == 1
    assert delivery.reason is not None and "unknown channel column [99]" in delivery.reason
    assert len(fake_influx.accepted) == 3


async def test_connection_refused_names_the_url_and_cause() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with destination(url) as dest:
        with pytest.raises(RetryableSinkError) as caught:
            await dest.send(readings_chunk(2))
    assert caught.value.reason.startswith(url)
    assert "Connection refused" in caught.value.reason


async def test_https_to_a_plain_http_port_fails_on_tls_and_sends_nothing(fake_influx: FakeInflux) -> None:
    url = fake_influx.url.replace("http://", "https://")
    async with destination(url) as dest:
        with pytest.raises(RetryableSinkError) as caught:
            await dest.send(readings_chunk(2))
    assert "TLS" in caught.value.reason
    assert caught.value.reason.startswith(url)
    assert fake_influx.received == []  # no fallback to plain http


async def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server = FakeInflux(ssl_context=server_tls(self_signed_cert(tmp_path)))
    await server.start()
    try:
        async with destination(server.url) as dest:
            with pytest.raises(RetryableSinkError) as caught:
                await dest.send(readings_chunk(2))
    finally:
        await server.stop()
    assert "TLS certificate not accepted" in caught.value.reason
    assert server.received == []


async def test_redirect_is_not_followed(fake_influx: FakeInflux) -> None:
    other = FakeInflux()
    await other.start()
    try:
        fake_influx.script(Answer(307, headers={"Location": f"{other.url}/api/v2/write"}))
        async with destination(fake_influx.url) as dest:
            with pytest.raises(RetryableSinkError) as caught:
                await dest.send(readings_chunk(2))
    finally:
        await other.stop()
    assert "redirected to" in caught.value.reason and "not followed" in caught.value.reason
    assert other.received == []  # the token never went there


async def test_no_answer_within_the_timeout_is_retryable(fake_influx: FakeInflux) -> None:
    fake_influx.hang = True
    async with destination(fake_influx.url, timeout_s=0.3) as dest:
        with pytest.raises(RetryableSinkError) as caught:
            await dest.send(readings_chunk(2))
    assert "no answer within 0.3 s" in caught.value.reason


async def test_send_before_enter_is_a_programming_error() -> None:
    dest = destination("http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="enter"):
        await dest.send(readings_chunk(1))


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="http"):
        destination("ftp://127.0.0.1:8086")
    with pytest.raises(ValueError, match="max_points_per_request"):
        destination("http://127.0.0.1:8086", max_points_per_request=0)
    with pytest.raises(ValueError, match="channel"):
        destination("http://127.0.0.1:8086", extra_tags={"channel": "x"})


def test_user_and_password_in_the_url_are_never_shown() -> None:
    dest = destination("https://user:pw@127.0.0.1:8086/influx")
    assert dest.shown_url == "https://127.0.0.1:8086/influx"


def test_server_message_prefers_json_message_and_trims() -> None:
    assert server_message(b'{"code":"invalid","message":"bad line"}', None) == "bad line"
    assert server_message(b"plain\n text ", None) == "plain text"
    assert len(server_message(b"x" * 5000, None)) == 300
    assert server_message(b"", {"X-Influx-Error": "from header"}) == "from header"
