//! Tokens: generated from the OS's random source, shown once, stored only
//! as SHA-256 hashes, compared in constant time, never logged.

use std::fmt;

use monitor_core::TokenHash;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An agent: ingest for its own server.
    Agent,
    /// The dashboard: read everything, change the alert thresholds.
    Dashboard,
    /// Everything.
    Admin,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Agent => "smk_ing_",
            Scope::Dashboard => "smk_dsh_",
            Scope::Admin => "smk_adm_",
        }
    }
}

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

    /// Wraps a token received from a client or configuration.
    pub fn from_secret(secret: impl Into<String>) -> Token {
        Token(secret.into())
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
    TokenHash(Sha256::digest(secret).into())
}

/// Compares a presented secret with an expected token hash in constant time.
pub fn matches(presented: &[u8], expected: &TokenHash) -> bool {
    hash(presented).0.ct_eq(&expected.0).into()
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
}

/// Agent tokens already checked against the store: hash → server, for a
/// minute, so an ingest request does not read the database to learn who
/// sends it. Rotating or deleting a server in this process forgets its
/// entry at once; another process sharing the database is heard from
/// within the minute.
#[derive(Debug, Default)]
pub struct AgentTokens {
    map: std::sync::Mutex<
        std::collections::HashMap<TokenHash, (monitor_core::ServerId, std::time::Instant)>,
    >,
}

/// How long a checked agent token is trusted without asking the store.
const AGENT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Entries kept at most (one per agent; the map is cleared beyond).
const AGENT_TOKENS_MAX: usize = 200_000;

impl AgentTokens {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<TokenHash, (monitor_core::ServerId, std::time::Instant)>,
    > {
        // Each operation is one map call: a panic leaves the map usable.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The server of a token checked less than a minute ago.
    pub fn get(&self, hash: &TokenHash) -> Option<monitor_core::ServerId> {
        let map = self.lock();
        let (id, at) = map.get(hash)?;
        (at.elapsed() < AGENT_TOKEN_TTL).then(|| id.clone())
    }

    /// Remembers that `hash` belongs to `id`.
    pub fn insert(&self, hash: TokenHash, id: monitor_core::ServerId) {
        let mut map = self.lock();
        if map.len() >= AGENT_TOKENS_MAX {
            map.clear();
        }
        map.insert(hash, (id, std::time::Instant::now()));
    }

    /// Forgets every token of `id` (rotated or deleted).
    pub fn forget(&self, id: &monitor_core::ServerId) {
        self.lock().retain(|_, (known, _)| known != id);
    }
}
