//! The `cloudUsage` totals (filled below).
