//! REST routes. Each adapter owns its wire format (field names, envelopes,
//! error bodies) and nothing else: it parses the request, authenticates through
//! [`crate::auth`], calls services and shapes the answer.

pub mod apel;
pub mod eosc;
pub mod heappe;
pub mod ingest;
pub mod tally;
