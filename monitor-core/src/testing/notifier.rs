//! The conformance suite of [`Notifier`]: what the alert engine relies on
//! from every notifier, built-in or yours.
//!
//! ```text
//! #[tokio::test]
//! async fn my_notifier_conforms() {
//!     let (notifier, delivered) = MyNotifier::to_a_test_receiver().await;
//!     monitor_core::testing::notifier::conformance(&notifier, || delivered.count()).await;
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::alert::{AlertEvent, AlertState, Severity};
use crate::model::{Labels, ServerId, Timestamp};
use crate::{Notification, Notifier};

/// A firing notification and its resolution, as the engine sends them.
pub fn notifications() -> [Notification; 2] {
    let event = |id: i64, from: AlertState, state: AlertState, value: f64| AlertEvent {
        id,
        rule_id: "cpu_total_percent".into(),
        rule_name: "CPU above 90%".into(),
        server_id: ServerId::new("conformance-01").unwrap(),
        metric: "cpu_usage_percent".into(),
        labels: Labels::new(),
        from,
        state,
        value: Some(value),
        threshold: 90.0,
        severity: Severity::Critical,
        at: Timestamp::now(),
        message: format!("cpu_usage_percent = {value} on conformance-01"),
    };
    [
        Notification {
            event: event(1, AlertState::Pending, AlertState::Firing, 97.5),
            server_name: "conformance <01> & \"friends\"".into(),
            dashboard_url: Some("https://monitor.example/#/server/conformance-01".into()),
            repeat: false,
            delivery_id: "conformance-1".into(),
        },
        Notification {
            event: event(2, AlertState::Firing, AlertState::Resolved, 42.0),
            server_name: "conformance <01> & \"friends\"".into(),
            dashboard_url: None,
            repeat: false,
            delivery_id: "conformance-2".into(),
        },
    ]
}

/// Sends [`notifications`] through `notifier` and checks that each call
/// succeeds and is delivered once: `delivered` reads how many have reached
/// the receiver so far. Then checks the name and that `shutdown` succeeds.
///
/// # Panics
/// On the first broken rule, saying which.
pub async fn conformance(notifier: &dyn Notifier, delivered: impl Fn() -> usize) {
    let name = notifier.name().to_owned();
    assert!(
        !name.trim().is_empty(),
        "a notifier needs a name for its logs"
    );
    let before = delivered();
    for (i, notification) in notifications().iter().enumerate() {
        notifier
            .notify(notification)
            .await
            .unwrap_or_else(|e| panic!("{name}: notification {i} failed: {e}"));
        assert_eq!(
            delivered(),
            before + i + 1,
            "{name}: notification {i} was not delivered exactly once when notify returned"
        );
    }
    notifier
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown failed: {e}"));
}
