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
