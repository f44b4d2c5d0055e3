"""Prove that the manifest and the index agree, and mend them when they do not.

Orphans are chunks in the index that no manifest row claims (left by a run
killed before it recorded its file, whose file then vanished); missing chunks
are claimed by the manifest but absent from the index (an index restored from
an older backup, or edited by hand). Repair deletes orphans and forgets the
documents with missing chunks (what is left of them too), so that the next
``ingest`` adds them afresh. The BM25 index must hold exactly the vector
index's chunks; repair rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.lexical import LexicalIndex, fingerprint, sync_lexical
from ingest.manifest import Manifest
from ingest.pipeline import forget
from ingest.store import Index


@dataclass
class VerifyReport:
    domain: str
    documents: int
    chunks: int
    orphan_chunks: list[str] = field(default_factory=list)
    documents_missing_chunks: dict[str, int] = field(default_factory=dict)  # path → chunks missing
    lexical_in_sync: bool = True
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.orphan_chunks and not self.documents_missing_chunks and self.lexical_in_sync


def verify_domain(
    domain: str, index: Index, manifest: Manifest, lexical: LexicalIndex, repair: bool = False
) -> VerifyReport:
    records = manifest.records(domain)
    indexed = index.all_ids(domain)
    claimed = {chunk_id for record in records for chunk_id in record.chunk_ids}
    report = VerifyReport(domain, documents=len(records), chunks=len(indexed))
    report.orphan_chunks = sorted(indexed - claimed)
    incomplete = [r for r in records if any(chunk_id not in indexed for chunk_id in r.chunk_ids)]
    report.documents_missing_chunks = {
        r.path: sum(chunk_id not in indexed for chunk_id in r.chunk_ids) for r in incomplete
    }
    report.lexical_in_sync = lexical.fingerprint(domain) == fingerprint(indexed)
    if repair and not report.ok:
        index.delete(domain, report.orphan_chunks)
        for record in incomplete:
            forget(record, index, manifest)
        sync_lexical(domain, index, lexical)
        report.repaired = True
    return report
