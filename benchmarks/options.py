"""The parameters of `threadloom bench` (a light module: the CLI imports it to build its parser)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's parameters."""
    add = parser.add_argument
    add(
        "--run-ms",
        default="0,2000,500..3000,8000",
        help="MS or LOW..HIGH, comma-separated ('' skips the side-by-side batches)",
    )
    add(
        "--turns",
        type=int,
        default=40,
        help="turns per side-by-side and overhead batch (0 skips the warm-up and overhead batches)",
    )
    add("--concurrency", type=int, default=20, help="concurrency of the side-by-side batches")
    add(
        "--throughput",
        default="1,50,200",
        help="concurrency levels for turns/s (comma-separated; '' skips)",
    )
    add("--throughput-turns", type=int, default=400, help="turns per throughput batch (level 1: /10)")
    add("--in-flight", type=int, default=1000, help="turns in flight at once (0 skips)")
    add("--in-flight-run-ms", type=int, default=5000, help="run length of the in-flight turns")
    add(
        "--cpu-hog",
        action="store_true",
        help="keep one core busy in a second process during the in-flight phase (overload)",
    )
    add(
        "--local-activities",
        type=int,
        help="local activity slots of the turn workers (default: the worker's own)",
    )
    add(
        "--heartbeat-seconds",
        type=float,
        help="heartbeat timeout of the benchmark's turns (default: TurnPolicy's)",
    )
    add(
        "--first-read-ms",
        type=int,
        help="how long the read right after creating a run may be held (default: PollSettings')",
    )
    add(
        "--crash",
        type=int,
        default=0,
        metavar="N",
        help="crash tolerance: N turns while the worker is SIGKILLed and restarted (0 skips)",
    )
    add(
        "--limited-model",
        type=int,
        default=100,
        metavar="N",
        help="turns against a 5-request model (0 skips)",
    )
    add("--crash-kills", type=int, default=3, metavar="K", help="SIGKILLs during the --crash turns")
    add("--crash-run-ms", type=int, default=1500, help="run length of the --crash turns")
    add(
        "--crash-standby",
        action="store_true",
        help="a second worker polls the --crash queue and is never killed (a deployment of two); "
        "only the turns the killed worker held count toward crash recovery",
    )
    add(
        "--seed",
        type=int,
        help="seed of the random choices (--crash's kill moments, run lengths of LOW..HIGH); "
        "default: a fresh one for --crash (printed), 7 for run lengths",
    )
    add(
        "--server",
        default="sqlite,postgresql",
        help="storage setups of the server phase: sqlite, postgresql, postgresql:N replicas "
        "(comma-separated; '' skips)",
    )
    add("--server-turns", type=int, default=300, help="turns per server-phase batch")
    add("--server-concurrency", type=int, default=20, help="concurrency of the server phase")
    add("--partitions", type=int, help="task queue partitions of the dev server (default: its own)")
    add(
        "--dynamic-config",
        action="append",
        metavar="KEY=VALUE",
        help="a dev server dynamic config value (repeatable), e.g. "
        "history.transferProcessorMaxPollRPS=1000",
    )
    add(
        "--profile",
        type=int,
        default=0,
        metavar="SECONDS",
        help="sample the worker with py-spy (the bench extra) in the busiest throughput batch",
    )
    # Retrieval (issue 16): benchmarks.retrieval_phase.
    add(
        "--retrieval",
        action="store_true",
        help="also run the retrieval phase: ingestion MB/s and chunks/s, search p50/p99, recall@5",
    )
    add("--retrieval-chunks", type=int, default=10_000, help="chunks in the retrieval phase's store")
    add("--retrieval-searches", type=int, default=240, help="searches timed per retrieval setup")
    add(
        "--retrieval-backends",
        default="sqlite,postgresql",
        help="storage backends of the retrieval phase (comma-separated)",
    )
    # streaming turns (issue 15): `benchmarks.streaming_phase`
    add(
        "--stream-turns",
        type=int,
        default=5,
        metavar="N",
        help="streamed turns per way in the streaming phase (0 skips)",
    )
    add("--stream-deltas", type=int, default=200, help="text deltas of each streamed reply")
    add("--stream-delay-ms", type=int, default=20, help="the echo responder's pause between deltas")
    add("--no-openai", action="store_true", help="skip the openai SDK driver")
    add("--json", action="store_true", help="print the report as JSON")
