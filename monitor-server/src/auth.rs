//! Tokens: generated from the OS's random source, shown once, stored only
//! as SHA-256 hashes, compared in constant time, never logged.

use std::fmt;

use monitor_core::TokenHash;
use subtle::ConstantTimeEq;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An agent: ingest for its own server.
    Agent,
    /// Read-only: every read (API, live stream, `/metrics`), no change of
    /// anything (wallboards, Prometheus, Grafana).
    Read,
    /// The dashboard: read everything, change the alert thresholds, rules
    /// and silences (the original's `DASHBOARD_TOKEN`).
    Dashboard,
    /// Everything.
    Admin,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Agent => "smk_ing_",
            Scope::Read => "smk_rd_",
            Scope::Dashboard => "smk_dsh_",
            Scope::Admin => "smk_adm_",
        }
    }
}

/// The fewest characters a configured secret (an admin, dashboard or read
/// token) may have.
pub const MIN_SECRET_LEN: usize = 16;

/// A configured secret that is too short to be a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a token must hold at least {MIN_SECRET_LEN} characters, this one has {0}: use a long random one (openssl rand -hex 32)"
)]
pub struct WeakSecret(pub usize);

/// A secret token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new random token of `scope`: a type prefix and 256 random bits in hex
    /// (`smk_ing_3f9c...`), so a leaked one is recognizable.
    ///
    /// # Errors
    /// When the operating system has no random source.
    pub fn generate(scope: Scope) -> Result<Token, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let mut text = String::with_capacity(8 + 64);
        text.push_str(scope.prefix());
        for b in bytes {
            text.push_str(&format!("{b:02x}"));
        }
        Ok(Token(text))
    }

    /// Wraps a token from the configuration (a variable, a file, a
    /// builder call), without the whitespace around it (HTTP drops it from
    /// header values too).
    ///
    /// # Errors
    /// [`WeakSecret`] when it holds fewer than [`MIN_SECRET_LEN`]
    /// characters: an empty or short secret would be a token anyone can
    /// send (an empty `admin.token` file made an empty header the admin
    /// token).
    pub fn from_secret(secret: impl Into<String>) -> Result<Token, WeakSecret> {
        let secret = secret.into();
        let trimmed = secret.trim();
        let chars = trimmed.chars().count();
        if chars < MIN_SECRET_LEN {
            return Err(WeakSecret(chars));
        }
        Ok(Token(if trimmed.len() == secret.len() {
            secret
        } else {
            trimmed.to_owned()
        }))
    }

    /// The token itself, to show once or send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored in place of the token.
    pub fn hash(&self) -> TokenHash {
        hash(self.0.as_bytes())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a token's bytes.
pub fn hash(secret: &[u8]) -> TokenHash {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    TokenHash(out)
}

/// Compares a presented secret with an expected token hash in constant time.
/// A secret shorter than [`MIN_SECRET_LEN`] never matches.
pub fn matches(presented: &[u8], expected: &TokenHash) -> bool {
    presented.len() >= MIN_SECRET_LEN && bool::from(hash(presented).0.ct_eq(&expected.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_redacted() {
        let a = Token::generate(Scope::Agent).unwrap();
        let b = Token::generate(Scope::Agent).unwrap();
        assert!(a.expose().starts_with("smk_ing_"));
        assert_eq!(a.expose().len(), 8 + 64);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
        assert!(matches(a.expose().as_bytes(), &a.hash()));
        assert!(!matches(b.expose().as_bytes(), &a.hash()));
        assert!(
            Token::generate(Scope::Admin)
                .unwrap()
                .expose()
                .starts_with("smk_adm_")
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_match() {
        for short in ["", "   ", "\n", "short", "fifteen-chars!!"] {
            assert!(Token::from_secret(short).is_err(), "{short:?}");
        }
        let t = Token::from_secret("  sixteen-chars!!!\n").unwrap();
        assert_eq!(t.expose(), "sixteen-chars!!!");
        // The hash of an empty secret is no expected hash a request can hit.
        assert!(!matches(b"", &hash(b"")));
        assert!(!matches(b"short", &hash(b"short")));
    }
}

/// Agent tokens already checked against the store: hash → server, for a
/// minute, so an ingest request does not read the database to learn who
/// sends it. Rotating or deleting a server in this process forgets its
/// entry at once; another process sharing the database is heard from
/// within the minute.
///
/// A lookup that was under way when a token was forgotten does not put it
/// back: [`AgentTokens::generation`] is read before asking the store, and
/// [`AgentTokens::insert`] with an older generation does nothing (without
/// it, an ingest that read the old token just before a rotation committed
/// cached it again, and the rotated token kept working for a minute).
#[derive(Debug, Default)]
pub struct AgentTokens {
    map: std::sync::Mutex<Entries>,
}

type Entries = (
    u64,
    std::collections::HashMap<TokenHash, (monitor_core::ServerId, std::time::Instant)>,
);

/// How long a checked agent token is trusted without asking the store.
const AGENT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Entries kept at most (one per agent; the map is cleared beyond).
const AGENT_TOKENS_MAX: usize = 200_000;

impl AgentTokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Each operation is one map call: a panic leaves the map usable.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The server of a token checked less than a minute ago.
    pub fn get(&self, hash: &TokenHash) -> Option<monitor_core::ServerId> {
        let map = self.lock();
        let (id, at) = map.1.get(hash)?;
        (at.elapsed() < AGENT_TOKEN_TTL).then(|| id.clone())
    }

    /// The count of forgets so far: read it before asking the store, and
    /// give it to [`AgentTokens::insert`].
    pub fn generation(&self) -> u64 {
        self.lock().0
    }

    /// Remembers that `hash` belongs to `id`, unless a token was forgotten
    /// since `generation` was read.
    pub fn insert(&self, hash: TokenHash, id: monitor_core::ServerId, generation: u64) {
        let mut map = self.lock();
        if map.0 != generation {
            return;
        }
        if map.1.len() >= AGENT_TOKENS_MAX {
            map.1.clear();
        }
        map.1.insert(hash, (id, std::time::Instant::now()));
    }

    /// Forgets every token of `id` (rotated or deleted).
    pub fn forget(&self, id: &monitor_core::ServerId) {
        let mut map = self.lock();
        map.0 += 1;
        map.1.retain(|_, (known, _)| known != id);
    }

    /// Forgets every token (changes of the catalog may have been missed).
    pub fn forget_all(&self) {
        let mut map = self.lock();
        map.0 += 1;
        map.1.clear();
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn a_lookup_racing_a_rotation_does_not_cache_the_old_token() {
        let tokens = AgentTokens::default();
        let id = monitor_core::ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}"));
        let old = hash(b"smk_ing_the_old_token_of_srv_01");
        // An ingest reads the generation, then the store (the old token is
        // still there); meanwhile the rotation commits and forgets.
        let generation = tokens.generation();
        tokens.forget(&id);
        tokens.insert(old, id.clone(), generation);
        assert_eq!(tokens.get(&old), None, "the rotated token was cached again");
        let generation = tokens.generation();
        tokens.insert(old, id.clone(), generation);
        assert_eq!(tokens.get(&old), Some(id));
    }
}
