"""Batch export of many reviews to tables, and inter-reader agreement (docs/batch.md).

Modules
-------
discover         find review folders under a root
case             one review -> vessel rows + case row (runs in the workers)
run              in process, local process pool, or a Dask distributed cluster
cache            resumable runs: JSON results keyed by hashes of the inputs
pseudonym        keyed HMAC pseudonyms and per-patient date shifts
deidentify       apply them to rows and error messages
table            column dictionaries, CSV / Parquet writers
export           ``nvcview batch``: all of the above
agreement        Cohen's / weighted / Fleiss' kappa, ICC(2,1), ICC(3,1), Bland-Altman
agreement_report ``nvcview agreement``: statistics from a table, plots, HTML summary
"""
