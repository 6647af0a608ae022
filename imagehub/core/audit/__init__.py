"""The tamper-evident audit trail: each event carries the hash of the one before."""

from imagehub.core.audit.chain import GENESIS, AuditRecord, ChainBreak, chain_hash, verify_chain

__all__ = ["GENESIS", "AuditRecord", "ChainBreak", "chain_hash", "verify_chain"]
