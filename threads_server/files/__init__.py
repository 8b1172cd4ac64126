"""Files and retrieval: text extraction, chunking, embeddings, and the background ingestion loop.

```
upload ─► extract.extract_text (at upload: a bad file is a 400, nothing stored)
attach ─► vector_store_files row `in_progress` ─► ingest.Ingestor (any replica, under a lease)
          ─► chunking.chunk ─► embeddings (if configured) ─► chunks + lexical index ─► `completed`
search ─► retrieval.search: lexical (FTS5 / tsvector), hybrid with vectors when embeddings are on
```
"""
