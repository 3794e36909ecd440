//! Identity and access control.
//!
//! Two questions for every request (DESIGN §4): who is calling
//! ([`identity`]: JWT bearer tokens, HEAppE session codes, X.509 client DNs)
//! and what they may do ([`policy`], the one policy module every route and
//! resolver asks). Scoping is applied inside queries: services take a
//! [`policy::ProjectScope`] and filter with it.

pub mod identity;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod principal;
pub mod secret;
pub mod session_code;

pub use identity::{AuthFailure, Authenticator, Caller};
pub use policy::{
    Access, EoscAction, EoscCollection, EoscOperation, EoscRole, HeappeRole, InstallationScope,
    Principal, ProjectScope, Role, Scope,
};
