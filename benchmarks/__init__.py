"""`threadloom bench`: how fast, how cheap and how far threadloom turns go, side by side with the seed's
1-second polling loop and the official `openai` SDK's `create_and_poll` on the same threads server.

Modules: `stack` (dev server, threads server and worker processes), `worker_process` (the worker as its
own process, so its memory is measurable), `noop` (the baseline workflow), `drivers` (one turn, four
ways), `scenarios` (runs turns and collects samples), `figures` (percentiles, history counts),
`report` (table, JSON, targets), `crash` (turns while the worker is SIGKILLed and restarted),
`command` (the CLI entry).
"""
