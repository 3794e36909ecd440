//! Rows by id (filled below).
