//! Optional bearer tokens per role, and the middleware that checks them on every request.
//!
//! Three roles: `publish` (POST /api/v1/publish*), `read` (every GET: queries, listings,
//! dashboards, the web UI) and `admin` (rules reload, silences, dashboard changes); admin
//! implies the other two. Tokens come from a file (one `role token` per line) and from
//! `SEXTANT_TOKEN_{PUBLISH,READ,ADMIN}`. With no token configured, authentication is off.
//!
//! Tokens are kept only as SHA-256 digests and compared with [`subtle`]: every comparison
//! is between two 32-byte digests, so neither the time of a comparison nor the lengths
//! involved tell a caller how much of a guess was right, and every configured token is
//! compared on every request, so the time does not say which one (or its role) matched.

use std::fmt;

use axum::http::{header, HeaderMap, Method};
use ring::digest::{digest, SHA256};
use subtle::{Choice, ConstantTimeEq};

/// The environment variables read by [`Tokens::add_env`], with their role.
pub const ENV_VARS: [(&str, Role); 3] = [
    ("SEXTANT_TOKEN_PUBLISH", Role::Publish),
    ("SEXTANT_TOKEN_READ", Role::Read),
    ("SEXTANT_TOKEN_ADMIN", Role::Admin),
];

/// Shorter tokens are refused: a token is a password sent on every request, and 16
/// characters of a random alphabet is the least that resists guessing over the network.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publish datapoints.
    Publish,
    /// Read: queries, listings, dashboards, the web UI.
    Read,
    /// Change: rules reload, silences, dashboards; implies read and publish.
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "publish" => Some(Role::Publish),
            "read" => Some(Role::Read),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether a token of this role may do what `needed` allows.
    pub fn grants(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Publish => "publish",
            Role::Read => "read",
            Role::Admin => "admin",
        })
    }
}

/// A token file or variable that cannot be used; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// A line is not `role token`.
    #[error(
        "line {line}: expected 'role token' (role is publish, read or admin), found {found:?}"
    )]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The first word of the line (never the token, which must not reach a log).
        found: String,
    },
    /// A token is too short or has characters a bearer token cannot carry.
    #[error("{source_name}: a token must be at least {MIN_TOKEN_LEN} characters of A-Z a-z 0-9 - . _ ~ + / =")]
    BadToken {
        /// Where the token came from (`line 3`, a variable's name).
        source_name: String,
    },
}

/// The configured tokens; empty means authentication is off.
#[derive(Default)]
pub struct Tokens {
    /// SHA-256 of each token with its role; immutable after start-up.
    entries: Vec<([u8; 32], Role)>,
}

impl fmt::Debug for Tokens {
    // Digests are not secrets, but a log has no use for them either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish()
    }
}

/// RFC 6750 `b64token` characters, so a token survives any header unchanged.
fn valid_token(t: &str) -> bool {
    t.len() >= MIN_TOKEN_LEN
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

fn hash(token: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token).as_ref());
    out
}

impl Tokens {
    /// No tokens: authentication off.
    pub fn new() -> Tokens {
        Tokens::default()
    }

    /// Whether any token is configured (and so every request but the health check needs one).
    pub fn is_enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn add(
        &mut self,
        role: Role,
        token: &str,
        source_name: impl Fn() -> String,
    ) -> Result<(), TokensError> {
        if !valid_token(token) {
            return Err(TokensError::BadToken {
                source_name: source_name(),
            });
        }
        self.entries.push((hash(token.as_bytes()), role));
        Ok(())
    }

    /// Adds the tokens of a file's text: one `role token` per line; blank lines and lines
    /// starting with `#` are skipped.
    pub fn add_file(&mut self, text: &str) -> Result<(), TokensError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            let (Some(role), Some(token), None) = (Role::parse(first), words.next(), words.next())
            else {
                return Err(TokensError::Syntax {
                    line: i + 1,
                    found: first.to_string(),
                });
            };
            self.add(role, token, || format!("line {}", i + 1))?;
        }
        Ok(())
    }

    /// Adds the tokens of [`ENV_VARS`] as `lookup` finds them; a variable may hold several
    /// tokens separated by commas or whitespace.
    pub fn add_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), TokensError> {
        for (name, role) in ENV_VARS {
            let Some(value) = lookup(name) else { continue };
            for token in value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
            {
                self.add(role, token, || name.to_string())?;
            }
        }
        Ok(())
    }

    /// Checks the `Authorization` header of a request that needs `needed`.
    pub fn check(&self, headers: &HeaderMap, needed: Role) -> Result<(), Denied> {
        let value = headers.get(header::AUTHORIZATION).ok_or(Denied::Missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Malformed)?;
        let presented = hash(token.as_bytes());
        // No early exit: every entry is compared, whatever matched before.
        let mut known = Choice::from(0);
        let mut granted = Choice::from(0);
        for (digest, role) in &self.entries {
            let same = digest.ct_eq(&presented);
            known |= same;
            granted |= same & Choice::from(u8::from(role.grants(needed)));
        }
        match (bool::from(known), bool::from(granted)) {
            (_, true) => Ok(()),
            (true, false) => Err(Denied::Forbidden(needed)),
            (false, _) => Err(Denied::Unknown),
        }
    }
}

/// The role a request needs, from its method and path; `None` for the open health check
/// and the web UI's static files.
///
/// Anything not listed that is not a GET or HEAD needs admin, so a write endpoint added
/// later is closed until someone decides otherwise.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    let path = path.trim_end_matches('/');
    // The web UI's page, script and style hold no data; the page asks for a token and sends
    // it with every API call it makes.
    let ui = path.is_empty() || path.starts_with("/ui/");
    if path == "/healthcheck" || (ui && (*method == Method::GET || *method == Method::HEAD)) {
        return None;
    }
    // Calls between cluster nodes carry the cluster's own token, checked by the route.
    if path.starts_with("/internal/") {
        return None;
    }
    if *method == Method::POST
        && matches!(
            path,
            "/api/v1/publish" | "/api/v1/publish-fast" | "/api/v1/write" | "/v1/metrics"
        )
    {
        return Some(Role::Publish);
    }
    // Grafana sends Prometheus queries as POST forms; they only read.
    if *method == Method::POST && path.starts_with("/prometheus/api/v1/") {
        return Some(Role::Read);
    }
    if *method == Method::GET || *method == Method::HEAD {
        return Some(Role::Read);
    }
    // Rules reload, silences create/expire, dashboards PUT/DELETE, and everything unknown.
    Some(Role::Admin)
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A token that is not configured.
    Unknown,
    /// A valid token without the role.
    Forbidden(Role),
}

impl Denied {
    pub(crate) fn message(self) -> String {
        match self {
            Denied::Missing => {
                "authentication required: send 'Authorization: Bearer <token>'".to_string()
            }
            Denied::Malformed => {
                "malformed Authorization header: expected 'Bearer <token>'".to_string()
            }
            Denied::Unknown => "invalid bearer token".to_string(),
            Denied::Forbidden(role) => {
                format!("forbidden: this request needs a token with the '{role}' role")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const P: &str = "publish-token-0123456789";
    const R: &str = "read-token-0123456789";
    const A: &str = "admin-token-0123456789";

    fn tokens() -> Tokens {
        let mut t = Tokens::new();
        let file = format!("# comment\n\npublish {P}\nread {R}\n  admin   {A}  \n");
        assert!(t.add_file(&file).is_ok());
        t
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn roles_and_admin_implies_the_others() {
        let t = tokens();
        assert_eq!(t.len(), 3);
        assert_eq!(t.check(&bearer(P), Role::Publish), Ok(()));
        assert_eq!(
            t.check(&bearer(P), Role::Read),
            Err(Denied::Forbidden(Role::Read))
        );
        assert_eq!(t.check(&bearer(R), Role::Read), Ok(()));
        assert_eq!(
            t.check(&bearer(R), Role::Admin),
            Err(Denied::Forbidden(Role::Admin))
        );
        for needed in [Role::Publish, Role::Read, Role::Admin] {
            assert_eq!(t.check(&bearer(A), needed), Ok(()));
        }
    }

    #[test]
    fn missing_malformed_and_unknown() {
        let t = tokens();
        assert_eq!(t.check(&HeaderMap::new(), Role::Read), Err(Denied::Missing));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(t.check(&basic, Role::Read), Err(Denied::Malformed));
        assert_eq!(t.check(&bearer(""), Role::Read), Err(Denied::Malformed));
        assert_eq!(
            t.check(&bearer("read-token-012345678"), Role::Read),
            Err(Denied::Unknown)
        );
        // The scheme is case-insensitive (RFC 7235), the token is not.
        let mut lower = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("bearer {R}")) {
            lower.insert(header::AUTHORIZATION, v);
        }
        assert_eq!(t.check(&lower, Role::Read), Ok(()));
        assert_eq!(
            t.check(&bearer(&R.to_uppercase()), Role::Read),
            Err(Denied::Unknown)
        );
    }

    #[test]
    fn bad_files_and_env() {
        let mut t = Tokens::new();
        let e = t.add_file("read\n").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("line 1")));
        let e = t
            .add_file("writer abcdefghijklmnopqrstuvwxyz\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"writer\"")));
        let e = t.add_file("read short\n").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("line 1") && !e.contains("short")));
        assert!(t.is_empty());
        let env = |name: &str| (name == "SEXTANT_TOKEN_READ").then(|| format!("{R}, {P}x {A}y"));
        assert!(t.add_env(env).is_ok());
        assert_eq!(t.len(), 3);
        assert_eq!(t.check(&bearer(R), Role::Read), Ok(()));
        assert_eq!(t.check(&bearer(&format!("{A}y")), Role::Read), Ok(()));
        let bad = |name: &str| (name == "SEXTANT_TOKEN_ADMIN").then(|| "a b".to_string());
        let e = t.add_env(bad).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("SEXTANT_TOKEN_ADMIN")));
    }

    #[test]
    fn routes_to_roles() {
        use Method as M;
        assert_eq!(required_role(&M::GET, "/healthcheck"), None);
        assert_eq!(
            required_role(&M::POST, "/api/v1/publish"),
            Some(Role::Publish)
        );
        assert_eq!(
            required_role(&M::POST, "/api/v1/publish-fast"),
            Some(Role::Publish)
        );
        // Prometheus remote write and OTLP publish; Grafana's POSTed PromQL only reads.
        for path in ["/api/v1/write", "/v1/metrics"] {
            assert_eq!(required_role(&M::POST, path), Some(Role::Publish), "{path}");
        }
        for path in [
            "/prometheus/api/v1/query_range",
            "/prometheus/api/v1/series",
        ] {
            assert_eq!(required_role(&M::POST, path), Some(Role::Read), "{path}");
        }
        // The web UI's files hold no data: open, so the page can ask for a token.
        for path in ["/", "/ui/app.js", "/ui/style.css", "/ui/uPlot.iife.min.js"] {
            assert_eq!(required_role(&M::GET, path), None, "{path}");
        }
        assert_eq!(required_role(&M::POST, "/"), Some(Role::Admin));
        for path in [
            "/api/v1/graph",
            "/api/v1/chart",
            "/api/v1/words",
            "/api/v1/tags/name",
            "/api/v1/rules",
        ] {
            assert_eq!(required_role(&M::GET, path), Some(Role::Read), "{path}");
        }
        assert_eq!(
            required_role(&M::POST, "/api/v1/rules/reload"),
            Some(Role::Admin)
        );
        assert_eq!(
            required_role(&M::POST, "/api/v1/silences"),
            Some(Role::Admin)
        );
        assert_eq!(
            required_role(&M::DELETE, "/api/v1/silences/1"),
            Some(Role::Admin)
        );
        assert_eq!(
            required_role(&M::PUT, "/api/v1/dashboards/x"),
            Some(Role::Admin)
        );
        assert_eq!(
            required_role(&M::DELETE, "/api/v1/dashboards/x"),
            Some(Role::Admin)
        );
        assert_eq!(
            required_role(&M::PATCH, "/api/v1/nothing"),
            Some(Role::Admin)
        );
    }
}
