//! Opaque global ids: `base64url("<Type>:<id>")`, so that `node(id:)` can tell
//! what an id names and clients never build ids themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A decoded global id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalId {
    /// The GraphQL type name.
    pub kind: String,
    /// The row id.
    pub id: i64,
}

impl GlobalId {
    /// The opaque id of row `id` of GraphQL type `kind`.
    #[must_use]
    pub fn encode(kind: &str, id: i64) -> async_graphql::ID {
        async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
    }

    /// Decodes an opaque id; `None` when it is not one of Tally's.
    #[must_use]
    pub fn decode(id: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (kind, id) = text.split_once(':')?;
        Some(Self {
            kind: kind.to_owned(),
            id: id.parse().ok()?,
        })
    }

    /// The row id if this id names a `kind`.
    #[must_use]
    pub fn id_of(id: &str, kind: &str) -> Option<i64> {
        Self::decode(id).filter(|g| g.kind == kind).map(|g| g.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = GlobalId::encode("Project", 42);
        assert_eq!(GlobalId::id_of(&id, "Project"), Some(42));
        assert_eq!(GlobalId::id_of(&id, "Cluster"), None);
        for bad in ["", "!!!", "UHJvamVjdA", "UHJvamVjdDp4"] {
            assert_eq!(GlobalId::decode(bad), None, "{bad}");
        }
    }
}
