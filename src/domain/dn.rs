//! X.509 distinguished names, as APEL publishers present them.
//!
//! APEL compares the signer's DN as mod_ssl prints it with
//! `LegacyDNStringFormat`: slash form, most significant part first
//! (`/C=XX/O=XX/OU=XX/L=XX/CN=host`). Proxies and newer tools print RFC 4514
//! form, least significant part first with commas (`CN=host,L=XX,OU=XX,O=XX,C=XX`).
//! A [`Dn`] parses either and compares equal across them.

use std::fmt;

/// A distinguished name: its attributes, most significant first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dn {
    /// `(attribute type, value)`, types upper-cased, most significant first.
    parts: Vec<(String, String)>,
}

/// Why a string is not a distinguished name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a distinguished name: {0}")]
pub struct DnError(String);

impl Dn {
    /// Parses a DN in slash form (`/C=XX/CN=host`) or RFC 4514 form
    /// (`CN=host,C=XX`).
    ///
    /// # Errors
    /// The text is empty or a part is not `TYPE=value`.
    pub fn parse(text: &str) -> Result<Self, DnError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DnError("empty".to_owned()));
        }
        let parts = if let Some(rest) = text.strip_prefix('/') {
            split_slash(rest)?
        } else {
            let mut parts = split_rfc4514(text)?;
            parts.reverse();
            parts
        };
        Ok(Self { parts })
    }

    /// Builds a DN from attributes, most significant first (as a certificate's
    /// subject lists them).
    ///
    /// # Errors
    /// There are no attributes, or a type is empty.
    pub fn from_parts<T: AsRef<str>, V: AsRef<str>>(
        parts: impl IntoIterator<Item = (T, V)>,
    ) -> Result<Self, DnError> {
        let parts: Vec<_> = parts
            .into_iter()
            .map(|(t, v)| attribute(t.as_ref(), v.as_ref()))
            .collect::<Result<_, _>>()?;
        if parts.is_empty() {
            return Err(DnError("no attributes".to_owned()));
        }
        Ok(Self { parts })
    }

    /// The value of the last (least significant) attribute, the CN of a host
    /// certificate: what APEL calls the hostname (`dn.split("=")[-1]`).
    #[must_use]
    pub fn host(&self) -> &str {
        self.parts.last().map_or("", |(_, v)| v.as_str())
    }

    /// Slash form, the form APEL stores and compares: `/C=XX/O=XX/CN=host`.
    #[must_use]
    pub fn to_slash(&self) -> String {
        self.parts
            .iter()
            .map(|(t, v)| format!("/{t}={v}"))
            .collect()
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_slash())
    }
}

/// One `TYPE=value`, type upper-cased and both trimmed.
fn attribute(kind: &str, value: &str) -> Result<(String, String), DnError> {
    let kind = kind.trim();
    if kind.is_empty()
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(DnError(format!("bad attribute type {kind:?}")));
    }
    let kind = match kind.to_ascii_uppercase().as_str() {
        // Two spellings of the same attribute.
        "E" | "EMAILADDRESS" => "EMAILADDRESS".to_owned(),
        "S" => "ST".to_owned(),
        other => other.to_owned(),
    };
    Ok((kind, value.trim().to_owned()))
}

/// Splits slash form. A `/` inside a value (legal in legacy form) stays in the
/// value unless it starts a new `TYPE=`.
fn split_slash(text: &str) -> Result<Vec<(String, String)>, DnError> {
    let mut parts: Vec<(String, String)> = Vec::new();
    for piece in text.split('/') {
        match piece.split_once('=') {
            Some((kind, value)) if is_type(kind) => parts.push(attribute(kind, value)?),
            _ => match parts.last_mut() {
                Some((_, value)) => {
                    value.push('/');
                    value.push_str(piece);
                }
                None => return Err(DnError(format!("expected TYPE=value, found {piece:?}"))),
            },
        }
    }
    Ok(parts)
}

fn is_type(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Splits RFC 4514 form on unescaped `,` (and `+` of multi-valued RDNs),
/// unescaping `\,`-style and `\2C`-style escapes.
fn split_rfc4514(text: &str) -> Result<Vec<(String, String)>, DnError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut finish = |current: &mut String| -> Result<(), DnError> {
        let piece = std::mem::take(current);
        let (kind, value) = piece
            .split_once('=')
            .ok_or_else(|| DnError(format!("expected TYPE=value, found {piece:?}")))?;
        parts.push(attribute(kind, value)?);
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(h1)
                    if h1.is_ascii_hexdigit()
                        && chars.peek().is_some_and(char::is_ascii_hexdigit) =>
                {
                    let h2 = chars.next().unwrap_or('0');
                    let byte = u8::from_str_radix(&format!("{h1}{h2}"), 16).unwrap_or(b'?');
                    current.push(char::from(byte));
                }
                Some(escaped) => current.push(escaped),
                None => return Err(DnError("dangling escape".to_owned())),
            },
            ',' | ';' | '+' => finish(&mut current)?,
            other => current.push(other),
        }
    }
    finish(&mut current)?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_and_rfc4514_forms_compare_equal() {
        let slash = Dn::parse("/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test").unwrap();
        let rfc = Dn::parse("CN=allowed_host.test,L=XX,OU=XX,O=XX,C=XX").unwrap();
        let spaced = Dn::parse("cn=allowed_host.test, l=XX, ou=XX, o=XX, c=XX").unwrap();
        assert_eq!(slash, rfc);
        assert_eq!(slash, spaced);
        assert_eq!(rfc.to_slash(), "/C=XX/O=XX/OU=XX/L=XX/CN=allowed_host.test");
        assert_eq!(slash.host(), "allowed_host.test");
    }

    #[test]
    fn different_names_differ() {
        let a = Dn::parse("/C=XX/O=XX/CN=allowed_host.test").unwrap();
        let b = Dn::parse("/C=XX/O=XX/CN=prohibited_host.test").unwrap();
        assert_ne!(a, b);
        // Order matters: the same attributes reversed are another name.
        assert_ne!(
            Dn::parse("/C=XX/O=YY").unwrap(),
            Dn::parse("/O=YY/C=XX").unwrap()
        );
    }

    #[test]
    fn escapes_and_slashes_in_values() {
        let dn = Dn::parse(r"CN=Doe\, John,O=Example\2C Inc,C=CZ").unwrap();
        assert_eq!(dn.to_slash(), "/C=CZ/O=Example, Inc/CN=Doe, John");
        let legacy = Dn::parse("/DC=org/DC=terena/CN=host/name.example").unwrap();
        assert_eq!(legacy.host(), "host/name.example");
        assert_eq!(
            Dn::parse("/E=a@b/CN=x").unwrap(),
            Dn::parse("CN=x,emailAddress=a@b").unwrap()
        );
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        for bad in [
            "",
            "   ",
            "no equals",
            "/",
            "/=x",
            "CN=x,,O=y",
            "CN=x\\",
            "/bad type=x",
        ] {
            assert!(Dn::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
