"""The document the demo's file_search turn answers from (written for threadloom, shipped as text)."""

from __future__ import annotations

NAME = "threadloom-field-guide.md"
TEXT = """\
# threadloom field guide

## What a turn is
A turn posts one user message to a thread, runs the assistant on it, and returns the reply. Each turn
is a Temporal workflow, so it survives crashes and redeploys of the processes that run it.

## When a worker crashes
When a worker crashes in the middle of a turn, Temporal notices the missing heartbeat within seconds
and another worker resumes the turn from its last recorded step. The user message is never posted
twice and the run is never created twice, because every write carries the turn's idempotency key.

## When a run gets stuck
A run that passes its deadline is cancelled, and the engine starts a new run for the same turn, up to
the attempts its policy allows.

## Files and file_search
Files attached to a message with the file_search tool go into the thread's vector store. Runs search
it, and replies cite the passages they used with file_citation annotations.
"""
