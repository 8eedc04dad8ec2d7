//! Test support for plugin authors and for this workspace: conformance
//! suites that any implementation of a trait must pass. Enabled by the
//! `testing` feature.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     let store = MyStore::open_temporary().await.unwrap();
//!     monitor_core::testing::store::conformance(&store).await;
//! }
//! ```

pub mod store;

/// A small deterministic generator (xorshift), so a test failure or a
/// benchmark run reproduces exactly.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A percentage with two decimals, `0.00` to `99.99`.
    pub fn percent(&mut self) -> f64 {
        (self.next_u64() % 10_000) as f64 / 100.0
    }
}
