//! What every ingestion batch answers: how many records were inserted,
//! updated or unchanged, and which were rejected and why. A batch with any
//! rejection changes nothing. A report is also what an idempotency key
//! remembers ([`super::ingest`]), hence `Deserialize`.

use serde::{Deserialize, Serialize};

/// Why a record was rejected, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    /// The record itself is invalid.
    Invalid,
    /// It contradicts what is stored (a final record with other content).
    Conflict,
    /// The caller may not post it.
    Forbidden,
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Its position in the batch, from 0.
    pub index: usize,
    /// Why, broadly.
    pub kind: RejectionKind,
    /// Its natural key, as text (e.g. `bucket1@2026-03-01T05:00:00Z`).
    pub key: String,
    /// Why it was rejected.
    pub reason: String,
}

/// The answer to a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Records that did not exist.
    pub inserted: usize,
    /// Records that existed with other content and were corrected.
    pub updated: usize,
    /// Records that existed with the same content (replays).
    pub unchanged: usize,
    /// Records refused; when not empty, nothing of the batch was stored.
    pub rejected: Vec<Rejection>,
}

impl Report {
    /// Whether the batch is accepted (no rejection).
    #[must_use]
    pub fn accepted(&self) -> bool {
        self.rejected.is_empty()
    }

    /// Records a rejection.
    pub fn reject(
        &mut self,
        index: usize,
        kind: RejectionKind,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.rejected.push(Rejection {
            index,
            kind,
            key: key.into(),
            reason: reason.into(),
        });
    }
}
