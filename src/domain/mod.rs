//! Pure rules: no I/O, no database. Parsed at the edge into types whose
//! constructors validate ("parse, don't validate"), unit-tested here.

pub mod apel;
pub mod catalogue;
pub mod dn;
pub mod eosc_search;
pub mod formula;
pub mod slurm;
pub mod time_bucket;
pub mod usage;
